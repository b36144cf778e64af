// Which dependencies are connected right now: feeds /readyz and the dependency_up gauge.
import type { Redis } from 'ioredis';
import type { Pool } from 'mysql2/promise';
import type { Logger } from './log.js';
import type { Dependency, Metrics } from './metrics.js';
import { createOutage } from './outage.js';

export interface Health {
  set(dep: Dependency, up: boolean): void;
  isUp(dep: Dependency): boolean;
  /** Names of the dependencies that are down; empty when ready. */
  down(): Dependency[];
}

export function createHealth(metrics: Metrics): Health {
  const state: Record<Dependency, boolean> = { drachtio: false, redis: false, mysql: false };
  return {
    set(dep, up) {
      state[dep] = up;
      metrics.up.set({ dependency: dep }, up ? 1 : 0);
    },
    isUp: (dep) => state[dep],
    down: () => (Object.keys(state) as Dependency[]).filter((d) => !state[d]),
  };
}

/** Redis is up while `redis` (the REGISTER flow's connection) is. */
export function watchRedis(redis: Redis, health: Health): void {
  health.set('redis', redis.status === 'ready');
  redis.on('ready', () => health.set('redis', true));
  redis.on('close', () => health.set('redis', false));
  redis.on('end', () => health.set('redis', false));
}

/** MySQL is up while a `SELECT 1` every `everyMs` answers; returns the timer's stop. */
export function watchMysql(pool: Pool, health: Health, log: Logger, everyMs = 5000): () => void {
  const outage = createOutage(log, { lost: 'MySQL unreachable (MYSQL_URL)', restored: 'MySQL reachable again' });
  health.set('mysql', true);
  const timer = setInterval(() => {
    pool.query('SELECT 1').then(
      () => { outage.recover(); health.set('mysql', true); },
      (err: Error) => { outage.fail(err); health.set('mysql', false); },
    );
  }, everyMs).unref();
  return () => clearInterval(timer);
}
