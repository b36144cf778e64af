// Every Redis connection is opened here, from the configured topology (one server, REDIS_URL, or the master REDIS_SENTINELS name; ioredis follows failovers), each with a command timeout
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
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/index.js';
import type { Logger } from './log.js';
import { createOutage } from './outage.js';

export type { Redis };

/** The call flow's connection: no MULTI (see above), enforced by the type. */
export type PipelinedRedis = Omit<Redis, 'multi'>;

export const CONNECTIONS = ['main', 'cdr', 'privacy', 'subscriber'] as const;
export type ConnectionName = (typeof CONNECTIONS)[number];

export interface RedisConnections {
  readonly main: Redis;
  readonly cdr: PipelinedRedis;
  readonly privacy: Redis;
  readonly subscriber: Redis;
  /** Starts connecting every connection (each retries until it is up). */
  connect(): void;
  /** Quits each connection that is up (its queued commands first) and drops the others; safe twice. */
  close(): Promise<void>;
}

/** Where the daemon's Redis is, for logs: never the password. */
export function describeRedis(config: Pick<Config['redis'], 'url' | 'topology'>): string {
  if (config.topology.kind === 'sentinel') {
    return `master "${config.topology.masterName}" of sentinels ${config.topology.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
  }
  const u = new URL(config.url);
  return `${u.hostname}:${u.port || 6379}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
}

/** One server (REDIS_URL) or, with REDIS_SENTINELS, whichever server the sentinels name master (ioredis follows failovers). */
function connectTo(config: Config['redis'], options: RedisOptions): Redis {
  const t = config.topology;
  const auth = config.password === null ? {} : { password: config.password };
  if (t.kind === 'single') return new Redis(config.url, { ...options, ...auth });
  return new Redis({
    ...options, ...auth, sentinels: t.sentinels.map((s) => ({ host: s.host, port: s.port })), name: t.masterName,
    ...(t.sentinelPassword === null ? {} : { sentinelPassword: t.sentinelPassword }),
    db: Number(new URL(config.url).pathname.slice(1) || 0),
  });
}

/** One connection, as every connection is opened. */
export function openRedis(config: Config['redis'], log: Logger, name: ConnectionName, o: { autoPipeline?: boolean } = {}): Redis {
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
    lost: `Redis unreachable at ${where} (REDIS_URL${config.topology.kind === 'sentinel' ? ', REDIS_SENTINELS' : ''}); retrying`, restored: 'Redis connection restored',
    fields: { redis: where, connection: name },
  });
  redis.on('ready', () => outage.recover());
  // ioredis emits 'error' for each failed attempt and 'close' for each lost connection.
  redis.on('error', (err: Error) => { if (redis.status !== 'end') outage.fail(err); });
  redis.on('close', () => { if (redis.status !== 'end') outage.fail('connection closed'); });
  return redis;
}

export function createRedisConnections(config: Config['redis'], log: Logger): RedisConnections {
  const main = openRedis(config, log, 'main');
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
        // quit() waits for a reply a dead Redis will never send; disconnect() does not.
        if (r.status === 'ready') await r.quit().catch(() => r.disconnect());
        else r.disconnect();
      })).then(() => undefined);
      return closing;
    },
  };
}

/** Every key matching `match`, by SCAN (never KEYS): fine for admin work, not for a hot path. */
export async function scanKeys(redis: Redis, match: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}
