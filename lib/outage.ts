// One log line when a dependency goes away and one when it is back, however many attempts fail
// in between: an outage is an event for operators, not a line per failed request.
import type { Logger } from './log.js';

export interface Outage {
  readonly down: boolean;
  /** Records a failure; logs only the first of an outage. True when this one started it. */
  fail(err: unknown, fields?: Record<string, unknown>): boolean;
  /** Records a success; logs only the first after an outage. True when this one ended it. */
  recover(fields?: Record<string, unknown>): boolean;
}

export function createOutage(log: Logger, o: {
  /** The line at the start of an outage: what is unreachable, and the variable that configures it. */
  lost: string;
  restored: string;
  level?: 'error' | 'warn';
  fields?: Record<string, unknown>;
}): Outage {
  let down = false;
  return {
    get down() { return down; },
    fail(err, fields) {
      if (down) return false;
      down = true;
      const message = err instanceof Error ? err.message : err === undefined ? undefined : String(err);
      log[o.level ?? 'error']({ ...o.fields, ...fields, err: message }, o.lost);
      return true;
    },
    recover(fields) {
      if (!down) return false;
      down = false;
      log.info({ ...o.fields, ...fields }, o.restored);
      return true;
    },
  };
}

/**
 * A condition that recurs while it lasts (a full spool, a backlog): its first occurrence is logged at once,
 * then one line per `everyMs` at most, each with how many occurred since the last line (`occurrences`).
 */
export interface Recurring { hit(fields?: Record<string, unknown>): void }

export function createRecurring(log: Logger, o: { message: string; everyMs?: number; now?: () => number }): Recurring {
  const every = o.everyMs ?? 10_000, now = o.now ?? Date.now;
  let loggedAt = -Infinity;
  let since = 0;
  return {
    hit(fields) {
      since++;
      if (now() - loggedAt < every) return;
      log.error({ ...fields, occurrences: since }, o.message);
      loggedAt = now();
      since = 0;
    },
  };
}
