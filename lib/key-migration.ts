// The one-time move from the key layout before hash-tagged shards (issue 12) to today's: each store
// moves its own keys (bindings.ts, correlate.ts, spool.ts own them); this runs those moves once, at
// start, under a lock so that two instances starting together do not both move. Never on a cluster:
// the old layout's scripts could not run there, so a cluster has nothing to move.
import type { Logger } from './log.js';
import type { RedisClient } from './redis.js';

const LOCK_MS = 120_000;

export async function migrateKeyLayout(redis: RedisClient, prefix: string, log: Logger, steps: [string, () => Promise<number>][]): Promise<void> {
  const lock = `${prefix}migrate-lock`;
  const owner = `${process.pid}-${Date.now()}`;
  if ((await redis.set(lock, owner, 'PX', LOCK_MS, 'NX')) === null) {
    log.info('another instance is moving keys of the previous layout; not moving them here');
    return;
  }
  try {
    const moved: Record<string, number> = {};
    for (const [name, step] of steps) moved[name] = await step();
    if (Object.values(moved).some((n) => n > 0)) log.info({ moved }, 'keys of the previous Redis layout moved into hash-tagged shards');
  } finally {
    if ((await redis.get(lock)) === owner) await redis.del(lock);
  }
}
