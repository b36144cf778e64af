// One write to Redis per event-loop turn for the REGISTER path. drachtio-srf hands over every
// REGISTER of a TCP read in one go, and each then issues its Redis command; sent one by one that
// is one socket write (and one wake-up of Redis) per command, the biggest single cost of a REGISTER
// under load. Here the commands issued in one turn go out together as a pipeline (not a
// transaction: each command keeps its own reply, error and timeout); a lone command goes out as
// itself. Nothing waits for company: the batch leaves at setImmediate, within the same turn.
import { Cluster, type ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis.js';

/** What a queued command is issued on: the pipeline of the turn, or the connection itself. */
export type CommandTarget = RedisClient | ChainableCommander;

/**
 * Queues one command for this turn; resolves with its reply. `add` must issue exactly one command
 * on the target it is given (and return what that call returns).
 */
export type Batched = <T>(add: (target: CommandTarget) => unknown) => Promise<T>;

interface Queued { add(target: CommandTarget): unknown; resolve(v: unknown): void; reject(e: unknown): void }

const shared = new WeakMap<RedisClient, Batched>();

/** The batcher of a connection, shared by every module of the REGISTER path that uses it. */
export function batcherFor(redis: RedisClient): Batched {
  let b = shared.get(redis);
  if (!b) {
    b = createBatcher(redis);
    shared.set(redis, b);
  }
  return b;
}

export function createBatcher(redis: RedisClient): Batched {
  // A cluster pipeline must stay on one node: there the client's own auto-pipelining (one pipeline per
  // node and turn, lib/redis.ts) does this job.
  if (redis instanceof Cluster) return <T>(add: (target: CommandTarget) => unknown) => add(redis) as Promise<T>;
  let queue: Queued[] = [];

  const flush = () => {
    const q = queue;
    queue = [];
    if (q.length === 1) {
      const one = q[0]!;
      (one.add(redis) as Promise<unknown>).then(one.resolve, one.reject);
      return;
    }
    const p = redis.pipeline();
    for (const x of q) x.add(p);
    p.exec().then(
      (results) => {
        for (let i = 0; i < q.length; i++) {
          const r = results?.[i];
          if (!r) q[i]!.reject(new Error('Redis pipeline returned no reply'));
          else if (r[0]) q[i]!.reject(r[0]);
          else q[i]!.resolve(r[1]);
        }
      },
      (err: unknown) => { for (const x of q) x.reject(err); },
    );
  };

  return <T>(add: (target: CommandTarget) => unknown) => new Promise<T>((resolve, reject) => {
    if (queue.length === 0) setImmediate(flush);
    queue.push({ add, resolve: resolve as (v: unknown) => void, reject });
  });
}
