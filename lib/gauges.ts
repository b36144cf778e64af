// Gauges read from the stores (bindings, calls in flight, spool depth, oldest CDR) are refreshed on
// a timer and before each scrape, one refresh at a time: a slow store must not pile them up.
import type { Logger } from './log.js';

export interface Gauges {
  refresh(): Promise<void>;
  /** Refreshes every `everyMs` until stop(). */
  every(everyMs: number): void;
  stop(): void;
}

/** `parts` run in order; one that fails does not keep the others from running. */
export function createGauges(parts: Record<string, () => Promise<unknown>>, log: Logger): Gauges {
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  const once = async () => {
    for (const [name, part] of Object.entries(parts)) {
      await part().catch((err: Error) => log.warn({ gauge: name, err: err.message }, 'gauge refresh failed; serving last values'));
    }
  };
  const refresh = () => {
    running ??= once().finally(() => { running = null; });
    return running;
  };
  return {
    refresh,
    every(everyMs) { timer ??= setInterval(() => void refresh(), everyMs).unref(); },
    stop() { if (timer) clearInterval(timer); timer = null; },
  };
}
