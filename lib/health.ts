// Which dependencies are connected right now: feeds /readyz and the dependency_up gauge.
import type { Dependency, Metrics } from './metrics.js';

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
