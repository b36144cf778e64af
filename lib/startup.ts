// Start-up waits for its stores instead of crashing: an unreachable one is named once
// (variable and address), then retried with capped backoff until it answers.
import type { RedisClient } from './redis.js';
import type { Config } from '../config/index.js';
import { ensureDatabase, describeMysql, type Pool } from './db/pool.js';
import { migrate } from './db/migrate.js';
import { MigrationError } from './errors.js';
import type { Logger } from './log.js';
import { createOutage } from './outage.js';

export interface Stopper { readonly stopped: boolean; sleep(ms: number): Promise<void> }

export function createStopper(): Stopper & { stop(): void } {
  let stopped = false;
  const timers = new Set<{ t: NodeJS.Timeout; done: () => void }>();
  return {
    get stopped() { return stopped; },
    sleep: (ms) => new Promise<void>((resolve) => {
      if (stopped) return resolve();
      const entry = { t: setTimeout(() => { timers.delete(entry); resolve(); }, ms), done: resolve };
      timers.add(entry);
    }),
    stop() {
      stopped = true;
      for (const e of timers) { clearTimeout(e.t); e.done(); }
      timers.clear();
    },
  };
}

/** Waits until `redis` (connecting, and retrying, on its own: lib/redis.ts) is ready. */
export async function waitForRedis(redis: Pick<RedisClient, 'status'>, stopper: Stopper): Promise<void> {
  while (redis.status !== 'ready' && !stopper.stopped) await stopper.sleep(50);
}

/** Creates the database if missing and applies migrations; retries while MySQL is unreachable. */
export async function prepareMysql(config: Config['mysql'], pool: Pool, log: Logger, stopper: Stopper): Promise<void> {
  const where = describeMysql(config.url);
  let delay = 250;
  const outage = createOutage(log, { lost: `MySQL unreachable at ${where} (MYSQL_URL); retrying`, restored: 'MySQL reachable again', fields: { mysql: where } });
  while (!stopper.stopped) {
    try {
      await ensureDatabase(config);
      await migrate(pool, log);
      outage.recover();
      return;
    } catch (err) {
      // A failed migration is a bug or a schema conflict, not an outage: retrying won't help.
      if (err instanceof MigrationError) throw err;
      outage.fail(err);
      await stopper.sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  }
}
