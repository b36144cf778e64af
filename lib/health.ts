// Which dependencies are connected right now: feeds /readyz and the dependency_up gauge. With several
// drachtio-servers, `drachtio` is up while at least one is connected (the daemon serves through it); each
// has its own drachtio_up gauge, named by its index in DRACHTIO_SERVERS.
import type { Dependency, Metrics } from './metrics.js';

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
