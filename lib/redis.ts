// The Redis client: bounded reconnect backoff, a per-command timeout so a dead Redis
// turns into a fast 503 rather than a hung REGISTER, and one log line per outage.
import { Redis } from 'ioredis';
import type { Config } from '../config/index.js';
import type { Logger } from './log.js';

export type { Redis };

export function describeRedis(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 6379}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
}

export function createRedis(config: Config['redis'], log: Logger): Redis {
  const where = describeRedis(config.url);
  const redis = new Redis(config.url, {
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
    log.error({ redis: where, err: why }, `Redis unreachable at ${where} (REDIS_URL); retrying`);
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
