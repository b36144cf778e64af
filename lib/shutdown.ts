// The staged shutdown: stages run in order, each within its share of SHUTDOWN_TIMEOUT_MS (and
// never past the whole deadline), so one stuck stage cannot starve the ones after it. A stage
// that fails or overruns is logged and the next one runs. Calling it again returns the same run.
import { ShutdownTimeoutError } from './errors.js';
import type { Logger } from './log.js';
import { withTimeout } from './timeout.js';

/** [name, work, share of the total (default 1)] */
export type Stage = [string, () => unknown, number?];

export function createShutdown(totalMs: number, log: Logger, stages: readonly Stage[]): () => Promise<void> {
  let running: Promise<void> | null = null;
  const run = async () => {
    const deadline = Date.now() + totalMs;
    log.info('shutting down: refusing new work');
    for (const [stage, work, share = 1] of stages) {
      const ms = Math.min(deadline - Date.now(), totalMs * share);
      try {
        await withTimeout(Promise.resolve().then(work), ms, () => new ShutdownTimeoutError(stage, totalMs));
      } catch (err) {
        log.error({ stage, err: (err as Error).message }, 'shutdown stage failed; continuing');
      }
    }
    log.info('shutdown complete');
  };
  return () => (running ??= run());
}
