// Takes in drachtio-server's cdr:* events and applies each to Redis, holding it while the flow's
// connection is away. A command it cannot get through fails within the command timeout; the event
// then waits in memory (at most MAX_PENDING_EVENTS) and is applied again, in order, when the
// connection is back. Beyond that bound, or if the process stops before Redis returns, events are
// lost and counted (cdrs_skipped_total{reason="redis_unavailable"}): only those, so the count is what
// was really lost. Every script is idempotent, so applying an event again after a reply that never
// came at worst counts it as a duplicate.
import type { PipelinedRedis } from '../redis.js';
import { errorKind, reportBug } from '../errors.js';
import { settlesWithin } from '../timeout.js';
import type { Logger } from '../log.js';
import { createOutage, createRecurring } from '../outage.js';
import type { CdrSkipReason, Metrics } from '../metrics.js';
import { normaliseEvent, type CdrEvent, type EventType } from './event.js';

export const MAX_PENDING_EVENTS = 10_000;
/** Retry pause when a command timed out on a connection that is still up (Redis slow, not gone). */
const RETRY_MS = 100;

export interface EventIntake {
  /** Runs inside drachtio-srf's socket handler: never throws nor leaves a rejection unhandled. */
  take(type: EventType, args: unknown[]): void;
  /** Resolves once every event taken in so far is applied or counted as lost. */
  settle(): Promise<void>;
  /** Shutdown began: events waiting for Redis give up now and are counted as lost (those on their way still land). */
  giveUp(): void;
  /** Waits up to `waitMs` for the events on their way, then counts the rest as lost and takes no more. */
  close(waitMs: number): Promise<void>;
}

export function createEventIntake(d: {
  conn: PipelinedRedis;
  apply: (ev: CdrEvent) => Promise<void>;
  metrics: Metrics;
  log: Logger;
  now: () => number;
}): EventIntake {
  const { conn, metrics, log, now } = d;
  const outage = createOutage(log, {
    lost: 'CDR Redis connection lost; events are held in memory until it returns',
    restored: 'CDR Redis connection back; held events are applied in order', level: 'warn',
  });
  conn.on('error', (err: Error) => outage.fail(err));
  // Events waiting for the connection to come back; each learns whether to try again (false: shutdown).
  const waiters = new Set<(again: boolean) => void>();
  const wake = (again: boolean) => { for (const w of waiters) w(again); waiters.clear(); };
  conn.on('ready', () => { outage.recover(); wake(true); });

  const skip = (reason: CdrSkipReason) => metrics.cdrsSkipped.inc({ reason });
  // Events received but not yet applied; `lost` once counted as lost (at most once per event).
  const pending = new Map<Promise<void>, { lost: boolean }>();
  /** Shutdown began: events waiting for Redis give up (those on their way still land). */
  let closing = false;
  /** Shutdown done: an event now can no longer be applied. */
  let closed = false;
  /** Events taken in for applying, by type: what the closing line reports. */
  const received: Record<EventType, number> = { attempt: 0, start: 0, stop: 0 };
  let lostAtShutdown = 0;
  const backlog = createRecurring(log, { message: 'CDR events dropped: Redis is not keeping up (MAX_PENDING_EVENTS)' });

  /** Resolves once the connection is back (true), or shutdown gives up waiting for it (false). */
  const redisBack = () => new Promise<boolean>((resolve) => {
    if (closing) return resolve(false);
    if (conn.status === 'ready') setTimeout(() => resolve(!closing), RETRY_MS).unref();
    else waiters.add(resolve);
  });

  const giveUp = () => {
    closing = true;
    wake(false);
  };

  const applyHeld = async (ev: CdrEvent): Promise<void> => {
    for (;;) {
      try {
        return await d.apply(ev);
      } catch (err) {
        if (errorKind(err) !== 'unavailable' || !(await redisBack())) throw err;
      }
    }
  };

  return {
    take(type, args) {
      try {
        metrics.cdrEvents.inc({ type });
        if (closed) return skip('redis_unavailable');
        const n = normaliseEvent(type, args, now());
        if (!n.ok) {
          log.warn({ type, why: n.why }, 'invalid CDR event ignored');
          return skip('invalid');
        }
        if (pending.size >= MAX_PENDING_EVENTS) {
          backlog.hit({ pending: pending.size });
          return skip('redis_unavailable');
        }
        received[type]++;
        const held = { lost: false };
        const p: Promise<void> = applyHeld(n.event)
          .catch((err: unknown) => {
            if (held.lost) return;
            held.lost = true;
            if (errorKind(err) === 'bug') {
              skip('invalid');
              return reportBug({ log, metrics }, 'cdr', err, 'CDR event dropped: internal error', { type });
            }
            skip('redis_unavailable');
            if (closing) lostAtShutdown++;
            else log.error({ type, err: (err as Error).message }, 'CDR event lost: Redis failed');
          })
          .finally(() => { pending.delete(p); });
        pending.set(p, held);
      } catch (err) {
        skip('invalid');
        log.error({ type, err: (err as Error).message }, 'CDR event handler failed');
      }
    },

    async settle() {
      while (pending.size) await Promise.allSettled([...pending.keys()]);
    },

    giveUp,

    async close(waitMs) {
      giveUp();
      // Events whose commands are on their way land (or fail and are counted) within the command
      // timeout: wait for them rather than guess.
      await settlesWithin(Promise.allSettled([...pending.keys()]), waitMs);
      closed = true;
      let unsettled = 0;
      for (const held of pending.values()) if (!held.lost) { held.lost = true; unsettled++; }
      pending.clear();
      if (unsettled) metrics.cdrsSkipped.inc({ reason: 'redis_unavailable' }, unsettled);
      const lost = lostAtShutdown + unsettled;
      if (lost) log.error({ lost }, 'CDR events still waiting for Redis at shutdown were lost');
      log.info({ received, lost }, 'CDR recorder stopped');
    },
  };
}
