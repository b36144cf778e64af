// Every Redis connection is opened here, from the configured topology (one server, REDIS_URL; the master
// REDIS_SENTINELS name; or a Redis Cluster, REDIS_CLUSTER_NODES; ioredis follows failovers), each with a command timeout
// (REDIS_COMMAND_TIMEOUT_MS) and so a bounded offline queue: a command issued while the connection
// is down waits at most that long, then fails as a store outage (lib/errors.ts) instead of waiting
// without end. Reconnects back off up to 5 s; one log line per outage and one on recovery per
// connection (lib/outage.ts).
//
//   main        the REGISTER flow (bindings, auth guard) and the gauges
//   cdr         the call-event flow: auto-pipelined, so its commands stay in order and must never use
//               MULTI (a transaction would overtake the commands queued before it); typed without it
//   privacy     the admin API, erasure and the audit: their scans never queue behind REGISTERs
//   subscriber  account-change notifications (a subscribed connection can do nothing else)
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/index.js';
import type { Logger } from './log.js';
import { StoreUnavailableError } from './errors.js';
import { createOutage } from './outage.js';
import { settlesWithin } from './timeout.js';

export type { Redis, Cluster };

/**
 * A connection in any topology: one server or a Sentinel master (`Redis`), or a Redis Cluster (`Cluster`).
 * Both carry the same command methods (ioredis's RedisCommander, our scripts declared on it), so the
 * stores take this type and work on either without casts; what differs (SCAN, replica acks) is in
 * scanKeys and lib/replication.ts.
 */
export type RedisClient = Redis | Cluster;

/** The call flow's connection: no MULTI (see above), enforced by the type. */
export type PipelinedRedis = Omit<Redis, 'multi'> | Omit<Cluster, 'multi'>;

export const CONNECTIONS = ['main', 'cdr', 'privacy', 'subscriber'] as const;
export type ConnectionName = (typeof CONNECTIONS)[number];

export interface RedisConnections {
  readonly main: RedisClient;
  readonly cdr: PipelinedRedis;
  readonly privacy: RedisClient;
  readonly subscriber: RedisClient;
  /** Starts connecting every connection (each retries until it is up). */
  connect(): void;
  /** Quits each connection that is up (its queued commands first) and drops the others; safe twice. */
  close(): Promise<void>;
}

/** Where the daemon's Redis is, for logs: never the password. */
export function describeRedis(config: Pick<Config['redis'], 'url' | 'topology'>): string {
  const list = (l: readonly { host: string; port: number }[]) => l.map((s) => `${s.host}:${s.port}`).join(',');
  if (config.topology.kind === 'sentinel') return `master "${config.topology.masterName}" of sentinels ${list(config.topology.sentinels)}`;
  if (config.topology.kind === 'cluster') return `cluster of ${list(config.topology.nodes)}`;
  const u = new URL(config.url);
  return `${u.hostname}:${u.port || 6379}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
}

const VARIABLE = { single: 'REDIS_URL', sentinel: 'REDIS_SENTINELS', cluster: 'REDIS_CLUSTER_NODES' } as const;

/**
 * One server (REDIS_URL); with REDIS_SENTINELS, whichever server the sentinels name master; with
 * REDIS_CLUSTER_NODES, a Cluster client over every master (ioredis follows failovers and slot moves).
 */
function connectTo(config: Config['redis'], options: RedisOptions): RedisClient {
  const t = config.topology;
  const auth = config.password === null ? {} : { password: config.password };
  if (t.kind === 'single') return new Redis(config.url, { ...options, ...auth });
  if (t.kind === 'cluster') {
    const { lazyConnect, enableAutoPipelining, retryStrategy, ...node } = options;
    return new Cluster(t.nodes.map((n) => ({ host: n.host, port: n.port })), {
      lazyConnect, enableAutoPipelining,
      redisOptions: { ...node, ...auth },
      clusterRetryStrategy: (attempt) => retryStrategy?.(attempt) ?? 5000,
      // No queue while the cluster (or a slot's master) is unreachable: a command fails at once, as a
      // store outage, instead of waiting for a cluster that may not come back. The per-node command
      // timeout bounds the rest.
      enableOfflineQueue: false,
      // A failover moves slots: MOVED / CLUSTERDOWN are retried this often, at most maxRedirections times.
      retryDelayOnFailover: 200, retryDelayOnClusterDown: 200, maxRedirections: 8,
      slotsRefreshTimeout: Math.min(2000, config.commandTimeoutMs * 2),
      // ioredis re-reads the slot table on MOVED and when a node goes, not later: a read made before the
      // replica's election still names the dead master, and no MOVED ever comes from it. Re-reading every
      // 2 s bounds how long the daemon answers 503 after the cluster has recovered (seen under load).
      slotsRefreshInterval: 2000,
    });
  }
  return new Redis({
    ...options, ...auth, sentinels: t.sentinels.map((s) => ({ host: s.host, port: s.port })), name: t.masterName,
    ...(t.sentinelPassword === null ? {} : { sentinelPassword: t.sentinelPassword }),
    db: Number(new URL(config.url).pathname.slice(1) || 0),
  });
}

/** One connection, as every connection is opened. */
export function openRedis(config: Config['redis'], log: Logger, name: ConnectionName, o: { autoPipeline?: boolean } = {}): RedisClient {
  const where = describeRedis(config);
  const redis = connectTo(config, {
    lazyConnect: true,
    connectionName: `sidecar-${name}`,
    commandTimeout: config.commandTimeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 5000),
    connectTimeout: 5000,
    keepAlive: 10_000,
    enableAutoPipelining: o.autoPipeline ?? false,
  });
  const outage = createOutage(log, {
    lost: `Redis unreachable at ${where} (${VARIABLE[config.topology.kind]}); retrying`, restored: 'Redis connection restored',
    fields: { redis: where, connection: name },
  });
  redis.on('ready', () => outage.recover());
  // ioredis emits 'error' for each failed attempt and 'close' for each lost connection.
  redis.on('error', (err: Error) => { if (redis.status !== 'end') outage.fail(err); });
  redis.on('close', () => { if (redis.status !== 'end') outage.fail('connection closed'); });
  // A cluster reports a lost node as 'node error', not 'error'.
  if (redis instanceof Cluster) redis.on('node error', (err: Error) => { if (redis.status !== 'end') outage.fail(err); });
  return redis;
}

export function createRedisConnections(config: Config['redis'], log: Logger): RedisConnections {
  // On one server the REGISTER path pipelines a turn's commands itself (register/batch.ts); a cluster
  // client does it per node.
  const main = openRedis(config, log, 'main', { autoPipeline: config.topology.kind === 'cluster' });
  const cdr = openRedis(config, log, 'cdr', { autoPipeline: true });
  const privacy = openRedis(config, log, 'privacy');
  const subscriber = openRedis(config, log, 'subscriber');
  const all = [main, cdr, privacy, subscriber];
  let closing: Promise<void> | null = null;
  return {
    main, cdr, privacy, subscriber,
    connect() {
      // Failures are logged by each connection's listeners and retried by its retryStrategy.
      for (const r of all) if (r.status === 'wait') r.connect().catch(() => undefined);
    },
    close() {
      closing ??= Promise.all(all.map(async (r) => {
        // quit() lets what was sent finish, but waits for replies a dead Redis will never send (a cluster client
        // asks every node in its pool, a killed one included, and keeps reconnecting to it): bounded, and then
        // disconnect() in every case, which stops all reconnecting.
        if (r.status === 'ready') await settlesWithin(r.quit(), config.commandTimeoutMs);
        r.disconnect();
      })).then(() => undefined);
      return closing;
    },
  };
}

/**
 * The servers holding the data: the one server, or the master of every slot of a cluster, as the client's
 * slot table names them. A slot whose master the client has no connection to (a failover it has not caught
 * up with) fails, as a store outage: a scan must not silently miss that master's keys.
 */
export function mastersOf(redis: RedisClient | PipelinedRedis): Redis[] {
  if (!(redis instanceof Cluster)) return [redis as Redis];
  const byKey = new Map(redis.nodes('all').map((n) => [`${n.options.host}:${n.options.port}`, n]));
  const masters = new Set<Redis>();
  for (const owners of redis.slots) {
    const node = owners?.[0] === undefined ? undefined : byKey.get(owners[0]);
    if (!node || node.status === 'end' || node.status === 'close') {
      // Learn the new masters now rather than at the next MOVED: the next call finds them.
      redis.refreshSlotsCache();
      throw new StoreUnavailableError('redis', `Redis Cluster: no reachable master for every slot (${owners?.[0] ?? 'none'})`);
    }
    masters.add(node);
  }
  return [...masters];
}

/**
 * Every key matching `match`, by SCAN (never KEYS) on every master: fine for admin work, not for a hot
 * path. On a cluster, a master that is down fails the scan (its keys would be missing from the answer).
 */
export async function scanKeys(redis: RedisClient | PipelinedRedis, match: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of mastersOf(redis)) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
  }
  return keys;
}
