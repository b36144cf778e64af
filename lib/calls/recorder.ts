// The call-event flow: drachtio-server cdr:* events → normalise (event.ts) → correlate per Call-ID in
// Redis (correlate.ts) → on stop: account and opt-out (accounts.ts, finish.ts) → Redis spool →
// batch writer (writer.ts) → `cdrs`, whose day partitions partitions.ts keeps ahead.
//
// The flow has its own Redis connection without a command timeout and with an offline queue: while
// Redis is unreachable, events wait in memory (at most MAX_PENDING_EVENTS) and are applied in order
// when it returns. Beyond that bound, or if the process stops before Redis returns, events are lost
// and counted (cdrs_skipped_total{reason="redis_unavailable"}).
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../../config/index.js';
import type { Pool } from '../db/pool.js';
import type { SrfInstance } from '../drachtio.js';
import type { Hasher, Logger } from '../log.js';
import type { CdrSkipReason, Metrics } from '../metrics.js';
import { createAccountResolver, type AccountResolver } from './accounts.js';
import { createCallState, type CallState } from './correlate.js';
import { normaliseEvent, type CdrEvent, type EventType } from './event.js';
import { createStopHandler } from './finish.js';
import { ensurePartitions } from './partitions.js';
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
}

export interface CallRecorderDeps {
  config: Config['cdr'];
  prefix: string;
  redis: Redis;
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
  // Auto-pipelining: the commands of the events handled in one event-loop turn leave in one write. A
  // socket write per command was the largest single cost of an event. Order is kept (FIFO), so a leg's
  // merges still reach Redis before its stop reads it; nothing on this connection may use MULTI.
  const conn = d.redis.duplicate({
    commandTimeout: undefined, maxRetriesPerRequest: null, enableOfflineQueue: true, lazyConnect: true, connectionName: 'sidecar-cdr',
    enableAutoPipelining: true,
  });
  let connError = false;
  conn.on('error', (err: Error) => {
    if (!connError) log.warn({ err: err.message }, 'CDR Redis connection lost; events are held in memory until it returns');
    connError = true;
  });
  conn.on('ready', () => { connError = false; });

  const calls = createCallState(conn, prefix, config.callStateTtlSeconds);
  const spool = createSpool(conn, prefix, config.spoolMax);
  const gaugeCalls = createCallState(d.redis, prefix, config.callStateTtlSeconds);
  const gaugeSpool = createSpool(d.redis, prefix, config.spoolMax);
  const accounts = createAccountResolver(pool, { cacheMs: config.accountCacheMs, now });
  const writer = createWriter({ spool, pool, accounts, metrics, log, config, owner: randomUUID(), restrictions: d.restrictions });
  const onStop = createStopHandler({
    calls, spool, accounts, metrics, log, hash: d.hash, onSpooled: () => writer.noteSpooled(), waitMs: d.stopWaitMs,
    restricted: d.restrictions && ((from, to) => d.restrictions!.restricted(from, to)),
  });

  const skip = (reason: CdrSkipReason) => metrics.cdrsSkipped.inc({ reason });
  // Events received but not yet applied; `lost` once counted as lost (at most once per event).
  const pending = new Map<Promise<void>, { lost: boolean }>();
  let started = false;
  let closed = false;
  let backlogLoggedAt = 0;
  const timers: NodeJS.Timeout[] = [];

  const apply = async (ev: CdrEvent): Promise<void> => {
    if (ev.type === 'stop') return onStop(ev);
    const r = await calls.merge(ev, now());
    if (r !== 'ok') skip('duplicate');
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
      const held = { lost: false };
      const p: Promise<void> = apply(n.event)
        .catch((err: Error) => {
          if (held.lost) return;
          held.lost = true;
          skip('redis_unavailable');
          log.error({ type, err: err.message }, 'CDR event lost: Redis failed');
        })
        .finally(() => { pending.delete(p); });
      pending.set(p, held);
    } catch (err) {
      skip('invalid');
      log.error({ type, err: (err as Error).message }, 'CDR event handler failed');
    }
  };

  const upkeep = () => {
    ensurePartitions(pool, now()).then(
      (added) => { if (added.length) log.info({ partitions: added }, 'added cdrs day partitions'); },
      (err: Error) => log.warn({ err: err.message }, 'cdrs partition upkeep failed; retried later (rows go to pmax meanwhile)'),
    );
  };

  const withTimeout = (work: Promise<unknown>) =>
    Promise.race([work.catch(() => undefined), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())]);

  return {
    accounts, calls, spool, writer,
    pendingEvents: () => pending.size,

    subscribe(srf) {
      const on = srf.on.bind(srf) as unknown as (event: string, fn: (...args: unknown[]) => void) => void;
      on('cdr:attempt', (...args) => onEvent('attempt', args));
      on('cdr:start', (...args) => onEvent('start', args));
      on('cdr:stop', (...args) => onEvent('stop', args));
    },

    start() {
      if (started || closed) return;
      started = true;
      conn.connect().catch(() => undefined); // failures are retried by the client and logged above
      writer.start();
      upkeep();
      const t = setInterval(upkeep, PARTITION_CHECK_MS);
      t.unref();
      timers.push(t);
    },

    async flush() {
      while (pending.size) await Promise.allSettled([...pending.keys()]);
      if (started) await writer.flush();
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearInterval(t);
      await withTimeout(writer.close());
      if (conn.status === 'ready') await withTimeout(conn.quit());
      conn.disconnect();
      // Events still waiting for Redis now will never be applied (ioredis keeps its offline queue
      // of a connection closed while reconnecting without settling it): count them as lost.
      let lost = 0;
      for (const held of pending.values()) if (!held.lost) { held.lost = true; lost++; }
      pending.clear();
      if (lost) {
        metrics.cdrsSkipped.inc({ reason: 'redis_unavailable' }, lost);
        log.error({ lost }, 'CDR events still waiting for Redis at shutdown were lost');
      }
    },

    async refreshGauges() {
      const t = now();
      metrics.callsInFlight.set(await gaugeCalls.countInFlight(t));
      metrics.cdrSpoolDepth.set(await gaugeSpool.depth());
    },
  };
}
