// The Redis client: bounded reconnect backoff, a per-command timeout so a dead Redis
// turns into a fast 503 rather than a hung REGISTER, and one log line per outage.
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/index.js';
import type { Logger } from './log.js';

export type { Redis };

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

export function createRedis(config: Config['redis'], log: Logger): Redis {
  const where = describeRedis(config);
  const redis = connectTo(config, {
    lazyConnect: true,
    commandTimeout: config.commandTimeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 5000),
    connectTimeout: 5000,
    keepAlive: 10_000,
  });
  let down = false;
  const markDown = (why: string) => {
    if (down || redis.status === 'end') return;
    down = true;
    log.error({ redis: where, err: why }, `Redis unreachable at ${where} (REDIS_URL${config.topology.kind === 'sentinel' ? ', REDIS_SENTINELS' : ''}); retrying`);
  };
  redis.on('ready', () => {
    if (down) log.info({ redis: where }, 'Redis connection restored');
    down = false;
  });
  // ioredis emits 'error' for each failed attempt and 'close' for each lost connection.
  redis.on('error', (err: Error) => markDown(err.message));
  redis.on('close', () => markDown('connection closed'));
  return redis;
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
