// Asks the master holding a key to confirm that its replicas have every write made so far on our
// connection to it (WAIT), so a failover cannot lose what we then report done. One WAIT per master
// and event-loop turn covers every write of that turn: WAIT blocks the connection until the acks come
// (or the timeout), and one per write would serialise them.
import { Cluster } from 'ioredis';
import type { PipelinedRedis } from './redis.js';

export interface ReplicaAck {
  /** Replicas each confirmation asks for now (0: none asked, every confirmation succeeds at once). */
  readonly replicas: number;
  setReplicas(n: number): void;
  /**
   * True when the replicas confirmed every write made so far on the connection to `key`'s master;
   * false when fewer did within the timeout (or, for DEGRADED_MS after such a shortfall, without
   * asking: a master without its replicas would otherwise stall the connection on every turn);
   * rejects when the connection failed (the write's fate is then unknown: redo it).
   */
  confirm(key: string): Promise<boolean>;
}

export const DEGRADED_MS = 5000;

type Group = { key: string; waiters: { resolve(ok: boolean): void; reject(err: unknown): void }[] };

/** The hash tag of a key (its slot's name), or the key itself. */
const tagOf = (key: string) => {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
};

export function createReplicaAck(redis: PipelinedRedis, o: { replicas: number; timeoutMs: number; now?: () => number }): ReplicaAck {
  const now = o.now ?? Date.now;
  let replicas = o.replicas;
  let degradedUntil = 0;
  // On one server a single WAIT covers the turn; on a cluster one per slot written (its master's connection).
  const cluster = redis instanceof Cluster;
  let groups = new Map<string, Group>();

  const wait = async (key: string): Promise<number> => {
    if (!cluster) return Number(await redis.wait(replicas, o.timeoutMs));
    // A pipeline with a key goes to that key's master, on the connection that carried the write.
    const res = await redis.pipeline().exists(key).wait(replicas, o.timeoutMs).exec();
    const [err, acked] = res?.[1] ?? [new Error('no reply to WAIT'), 0];
    if (err) throw err;
    return Number(acked);
  };

  const flush = () => {
    const gs = groups;
    groups = new Map();
    for (const g of gs.values()) {
      wait(g.key).then((acked) => {
        const ok = acked >= replicas;
        if (!ok) degradedUntil = now() + DEGRADED_MS;
        for (const w of g.waiters) w.resolve(ok);
      }, (err: unknown) => { for (const w of g.waiters) w.reject(err); });
    }
  };

  return {
    get replicas() { return replicas; },
    setReplicas(n) { replicas = n; },
    confirm(key) {
      if (replicas === 0) return Promise.resolve(true);
      if (now() < degradedUntil) return Promise.resolve(false);
      return new Promise((resolve, reject) => {
        if (groups.size === 0) setImmediate(flush);
        const g = cluster ? tagOf(key) : '';
        let group = groups.get(g);
        if (!group) groups.set(g, (group = { key, waiters: [] }));
        group.waiters.push({ resolve, reject });
      });
    },
  };
}
