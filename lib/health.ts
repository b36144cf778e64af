// Which dependencies are connected right now: feeds /readyz and the dependency_up gauge. With several
// drachtio-servers, `drachtio` is up while at least one is connected (the daemon serves through it); each
// has its own drachtio_up gauge, named by its index in DRACHTIO_SERVERS.
import type { RedisClient } from './redis.js';
import type { Pool } from 'mysql2/promise';
import type { Logger } from './log.js';
import type { Dependency, Metrics } from './metrics.js';
import { createOutage } from './outage.js';

export interface Health {
  set(dep: Dependency, up: boolean): void;
  isUp(dep: Dependency): boolean;
  /** Names of the dependencies that are down; empty when ready. */
  down(): Dependency[];
  /** One drachtio-server's connection (by index) went up or down. */
  setDrachtio(server: number, up: boolean): void;
}

export function createHealth(metrics: Metrics, drachtioServers = 1): Health {
  const state: Record<Dependency, boolean> = { drachtio: false, redis: false, mysql: false };
  const servers = Array.from({ length: drachtioServers }, () => false);
  for (let i = 0; i < drachtioServers; i++) metrics.drachtioUp.set({ server: String(i) }, 0);
  const set = (dep: Dependency, up: boolean) => {
    state[dep] = up;
    metrics.up.set({ dependency: dep }, up ? 1 : 0);
  };
  return {
    set,
    setDrachtio(server, up) {
      servers[server] = up;
      metrics.drachtioUp.set({ server: String(server) }, up ? 1 : 0);
      set('drachtio', servers.some(Boolean));
    },
    isUp: (dep) => state[dep],
    down: () => (Object.keys(state) as Dependency[]).filter((d) => !state[d]),
  };
}

/** Redis is up while `redis` (the REGISTER flow's connection) is. */
export function watchRedis(redis: RedisClient, health: Health): void {
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
