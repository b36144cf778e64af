// The call-event flow: drachtio-server cdr:* events → normalise (event.ts) → correlate per Call-ID in
// Redis (correlate.ts) → on the stop that ends a leg (outcome.ts), or when the orphan sweep finds its
// end was never reported (orphans.ts): account and opt-out (accounts.ts, finish.ts) → Redis spool →
// batch writer (writer.ts) → `cdrs`, whose day partitions partitions.ts keeps ahead.
//
// The flow has its own Redis connection (lib/redis.ts `cdr`). A command it cannot get through fails
// within the command timeout; the event then waits in memory (at most MAX_PENDING_EVENTS) and is
// applied again, in order, when the connection is back. Beyond that bound, or if the process stops
// before Redis returns, events are lost and counted (cdrs_skipped_total{reason="redis_unavailable"}):
// only those, so the count is what was really lost. Every script is idempotent, so applying an event
// again after a reply that never came at worst counts it as a duplicate.
import { randomUUID } from 'node:crypto';
import type { PipelinedRedis, Redis } from '../redis.js';
import { errorKind, reportBug } from '../errors.js';
import { settlesWithin } from '../timeout.js';
import type { Config } from '../../config/index.js';
import type { Pool } from '../db/pool.js';
import type { SrfInstance } from '../drachtio.js';
import type { Hasher, Logger } from '../log.js';
import type { CdrSkipReason, Metrics } from '../metrics.js';
import { createAccountResolver, type AccountResolver } from './accounts.js';
import { createCallState, type CallState } from './correlate.js';
import { normaliseEvent, type CdrEvent, type EventType } from './event.js';
import { createLegFinisher, createStopHandler } from './finish.js';
import { createOrphanSweep, sweepIntervalMs } from './orphans.js';
import { ensurePartitions } from '../db/cdr-partitions.js';
import { createSpool, type Spool } from './spool.js';
import { createWriter, type Writer, type WriterDeps } from './writer.js';

export interface CallRecorder {
  /** Subscribes to cdr:attempt/start/stop; must run before drachtio is connected. */
  subscribe(srf: SrfInstance): void;
  /** Starts background work (batch writer, partition upkeep). */
  start(): void;
  /** Writes every pending row now (shutdown). */
  flush(): Promise<void>;
  /** Stops background work; pending rows stay spooled. */
  close(): Promise<void>;
  /** Refreshes the spool depth and in-flight gauges. */
  refreshGauges(): Promise<void>;
  /** Drops what is cached about an account (its opt-out flag, what resolves to it): it changed. */
  forgetAccount(accountSid: string): void;
}

export interface CallRecorderDeps {
  config: Config['cdr'];
  prefix: string;
  /** The flow's own connection (lib/redis.ts `cdr`). */
  redis: PipelinedRedis;
  /** A connection for the gauges' reads (they use MULTI). */
  gaugeRedis: Redis;
  pool: Pool;
  metrics: Metrics;
  log: Logger;
  hash: Hasher;
  now?: () => number;
  /** Restricted numbers (lib/privacy/restrictions): checked when a leg ends and again by the writer. */
  restrictions?: WriterDeps['restrictions'];
  /** Test seam: how long a stop waits for its leg's other events (finish.ts STOP_WAIT_MS). */
  stopWaitMs?: readonly number[];
}

export const MAX_PENDING_EVENTS = 10_000;
const PARTITION_CHECK_MS = 10 * 60_000;
const CLOSE_WAIT_MS = 2000;
/** Retry pause when a command timed out on a connection that is still up (Redis slow, not gone). */
const RETRY_MS = 100;

export interface CallRecorderHandle extends CallRecorder {
  /** Resolution and opt-out cache; invalidate() is the hook for change notifications. */
  readonly accounts: AccountResolver;
  readonly calls: CallState;
  readonly spool: Spool;
  readonly writer: Writer;
  /** Events received but not yet applied to Redis. */
  pendingEvents(): number;
}

export function createCallRecorder(d: CallRecorderDeps): CallRecorderHandle {
  const { config, prefix, pool, metrics, log } = d;
  const now = d.now ?? Date.now;
  // The connection auto-pipelines: the commands of the events handled in one event-loop turn leave in
  // one write (a socket write per command was the largest single cost of an event). Order is kept
  // (FIFO), so a leg's merges still reach Redis before its stop reads it.
  const conn = d.redis;
  let connError = false;
  conn.on('error', (err: Error) => {
    if (!connError) log.warn({ err: err.message }, 'CDR Redis connection lost; events are held in memory until it returns');
    connError = true;
  });
  // Events waiting for the connection to come back; each learns whether to try again (false: shutdown).
  const waiters = new Set<(again: boolean) => void>();
  const wake = (again: boolean) => { for (const w of waiters) w(again); waiters.clear(); };
  conn.on('ready', () => { connError = false; wake(true); });

  const calls = createCallState(conn, prefix, config.callStateTtlSeconds, config.orphanTimeoutSeconds);
  const spool = createSpool(conn, prefix, config.spoolMax);
  const gaugeCalls = createCallState(d.gaugeRedis, prefix, config.callStateTtlSeconds, config.orphanTimeoutSeconds);
  const gaugeSpool = createSpool(d.gaugeRedis, prefix, config.spoolMax);
  const accounts = createAccountResolver(pool, { cacheMs: config.accountCacheMs, now });
  const writer = createWriter({ spool, pool, accounts, metrics, log, config, owner: randomUUID(), restrictions: d.restrictions });
  const finisher = createLegFinisher({
    calls, spool, accounts, metrics, log, onSpooled: () => writer.noteSpooled(),
    restricted: d.restrictions && ((from, to) => d.restrictions!.restricted(from, to)),
  });
  const onStop = createStopHandler({ calls, spool, finisher, metrics, log, hash: d.hash, now, waitMs: d.stopWaitMs });
  const orphans = createOrphanSweep({ calls, spool, finisher, metrics, log, hash: d.hash, now });

  const skip = (reason: CdrSkipReason) => metrics.cdrsSkipped.inc({ reason });
  // Events received but not yet applied; `lost` once counted as lost (at most once per event).
  const pending = new Map<Promise<void>, { lost: boolean }>();
  let started = false;
  /** Shutdown began: events waiting for Redis give up (those on their way still land). */
  let closing = false;
  /** Shutdown done: an event now can no longer be applied. */
  let closed = false;
  /** Events taken in for applying, by type: what the closing line reports. */
  const received: Record<EventType, number> = { attempt: 0, start: 0, stop: 0 };
  let lostAtShutdown = 0;
  let backlogLoggedAt = 0;
  const timers: NodeJS.Timeout[] = [];

  const apply = async (ev: CdrEvent): Promise<void> => {
    if (ev.type === 'stop') return onStop(ev);
    const r = await calls.merge(ev, now());
    if (r !== 'ok') skip('duplicate');
  };

  /** Resolves once the connection is back (true), or shutdown gives up waiting for it (false). */
  const redisBack = () => new Promise<boolean>((resolve) => {
    if (closing) return resolve(false);
    if (conn.status === 'ready') setTimeout(() => resolve(!closing), RETRY_MS).unref();
    else waiters.add(resolve);
  });

  const applyHeld = async (ev: CdrEvent): Promise<void> => {
    for (;;) {
      try {
        return await apply(ev);
      } catch (err) {
        if (errorKind(err) !== 'unavailable' || !(await redisBack())) throw err;
      }
    }
  };

  // Runs inside drachtio-srf's socket handler: it must never throw nor leave a rejection unhandled.
  const onEvent = (type: EventType, args: unknown[]): void => {
    try {
      metrics.cdrEvents.inc({ type });
      if (closed) return skip('redis_unavailable');
      const n = normaliseEvent(type, args, now());
      if (!n.ok) {
        log.warn({ type, why: n.why }, 'invalid CDR event ignored');
        return skip('invalid');
      }
      if (pending.size >= MAX_PENDING_EVENTS) {
        if (Date.now() - backlogLoggedAt > 10_000) {
          backlogLoggedAt = Date.now();
          log.error({ pending: pending.size }, 'CDR events dropped: Redis is not keeping up (MAX_PENDING_EVENTS)');
        }
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
  };

  // One sweep at a time: a slow Redis must not pile them up.
  let sweeping = false;
  const sweep = () => {
    if (sweeping || closed) return;
    sweeping = true;
    orphans.sweep()
      .catch((err: Error) => {
        // At shutdown the connection closes under a running sweep: its legs stay due for the next instance.
        if (closed) log.debug({ err: err.message }, 'orphan sweep cut short by shutdown');
        else log.error({ err: err.message }, 'orphan sweep failed; retried at the next');
      })
      .finally(() => { sweeping = false; });
  };

  const upkeep = () => {
    ensurePartitions(pool, now()).then(
      (added) => { if (added.length) log.info({ partitions: added }, 'added cdrs day partitions'); },
      (err: Error) => log.warn({ err: err.message }, 'cdrs partition upkeep failed; retried later (rows go to pmax meanwhile)'),
    );
  };

  return {
    accounts, calls, spool, writer,
    pendingEvents: () => pending.size,
    forgetAccount: (sid) => accounts.invalidate(sid),

    subscribe(srf) {
      const on = srf.on.bind(srf) as unknown as (event: string, fn: (...args: unknown[]) => void) => void;
      on('cdr:attempt', (...args) => onEvent('attempt', args));
      on('cdr:start', (...args) => onEvent('start', args));
      on('cdr:stop', (...args) => onEvent('stop', args));
    },

    start() {
      if (started || closed) return;
      started = true;
      writer.start();
      upkeep();
      timers.push(setInterval(upkeep, PARTITION_CHECK_MS), setInterval(sweep, sweepIntervalMs(config.orphanTimeoutSeconds)));
      for (const t of timers) t.unref();
    },

    async flush() {
      while (pending.size) await Promise.allSettled([...pending.keys()]);
      if (started) await writer.flush();
    },

    async close() {
      if (closing) return;
      closing = true;
      wake(false); // events waiting for Redis to come back give up now and are counted as lost
      for (const t of timers) clearInterval(t);
      await settlesWithin(writer.close(), CLOSE_WAIT_MS);
      // Events whose commands are on their way land (or fail and are counted) within the command
      // timeout: wait for them rather than guess.
      await settlesWithin(Promise.allSettled([...pending.keys()]), CLOSE_WAIT_MS);
      closed = true;
      let unsettled = 0;
      for (const held of pending.values()) if (!held.lost) { held.lost = true; unsettled++; }
      pending.clear();
      if (unsettled) metrics.cdrsSkipped.inc({ reason: 'redis_unavailable' }, unsettled);
      const lost = lostAtShutdown + unsettled;
      if (lost) log.error({ lost }, 'CDR events still waiting for Redis at shutdown were lost');
      log.info({ received, lost }, 'CDR recorder stopped');
    },

    async refreshGauges() {
      const t = now();
      metrics.callsInFlight.set(await gaugeCalls.countInFlight(t));
      metrics.cdrSpoolDepth.set(await gaugeSpool.depth());
    },
  };
}
