// The call-event flow: drachtio-server cdr:* events → taken in, held while Redis is away (intake.ts) →
// normalise (event.ts) → correlate per Call-ID in Redis (correlate.ts) → on the stop that ends a leg
// (outcome.ts), or when the orphan sweep finds its end was never reported (orphans.ts): account and
// opt-out (account-resolver.ts, finish.ts) → Redis spool → batch writer (writer.ts) → `cdrs`, whose
// day partitions lib/db/cdr-partitions.ts keeps ahead.
//
// The flow has its own Redis connection (lib/redis.ts `cdr`); its stores stay inside this module.
import { randomUUID } from 'node:crypto';
import type { PipelinedRedis, RedisClient } from '../redis.js';
import type { Config } from '../../config/index.js';
import type { Pool } from '../db/pool.js';
import type { SrfInstance } from '../drachtio.js';
import type { Hasher, Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { settlesWithin } from '../timeout.js';
import { createAccountResolver } from './account-resolver.js';
import { createLegConfirmation } from './confirm.js';
import { createCallState } from './correlate.js';
import type { CdrEvent } from './event.js';
import { createLegFinisher, createStopHandler } from './finish.js';
import { createEventIntake } from './intake.js';
import { createOrphanSweep, sweepIntervalMs } from './orphans.js';
import { ensurePartitions } from '../db/cdr-partitions.js';
import { createSpool } from './spool.js';
import { createWriter, type WriterDeps } from './writer.js';

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
  /** How many replicas must confirm a finished leg (REDIS_MIN_REPLICAS_ACK, or its default once the server is known). */
  setReplicaAcks(n: number): void;
}

export interface CallRecorderDeps {
  config: Config['cdr'];
  prefix: string;
  /** The flow's own connection (lib/redis.ts `cdr`). */
  redis: PipelinedRedis;
  /** A connection for the gauges' reads (they use MULTI). */
  gaugeRedis: RedisClient;
  pool: Pool;
  metrics: Metrics;
  log: Logger;
  hash: Hasher;
  now?: () => number;
  /** Restricted numbers (lib/privacy/restrictions): checked when a leg ends and again by the writer. */
  restrictions?: WriterDeps['restrictions'];
  /** Test seam: how long a stop waits for its leg's other events (finish.ts STOP_WAIT_MS). */
  stopWaitMs?: readonly number[];
  /** REDIS_WAIT_TIMEOUT_MS. */
  waitTimeoutMs?: number;
}

const PARTITION_CHECK_MS = 10 * 60_000;
const CLOSE_WAIT_MS = 2000;

export function createCallRecorder(d: CallRecorderDeps): CallRecorder {
  const { config, prefix, pool, metrics, log } = d;
  const now = d.now ?? Date.now;
  // The connection auto-pipelines: the commands of the events handled in one event-loop turn leave in
  // one write (a socket write per command was the largest single cost of an event). Order is kept
  // (FIFO), so a leg's merges still reach Redis before its stop reads it.
  const conn = d.redis;
  const calls = createCallState(conn, prefix, config.callStateTtlSeconds, config.orphanTimeoutSeconds);
  const spool = createSpool(conn, prefix, config.spoolMax);
  const gaugeCalls = createCallState(d.gaugeRedis, prefix, config.callStateTtlSeconds, config.orphanTimeoutSeconds);
  const gaugeSpool = createSpool(d.gaugeRedis, prefix, config.spoolMax);
  const accounts = createAccountResolver(pool, { cacheMs: config.accountCacheMs, now });
  const writer = createWriter({ spool, pool, accounts, metrics, log, config, owner: randomUUID(), restrictions: d.restrictions });
  const confirmation = createLegConfirmation({ conn, calls, metrics, log, timeoutMs: d.waitTimeoutMs ?? 500 });
  const finisher = createLegFinisher({
    calls, spool, accounts, metrics, log, onSpooled: () => writer.noteSpooled(), confirm: confirmation.confirm,
    restricted: d.restrictions && ((from, to) => d.restrictions!.restricted(from, to)),
  });
  const onStop = createStopHandler({ calls, spool, finisher, metrics, log, hash: d.hash, now, waitMs: d.stopWaitMs });
  const orphans = createOrphanSweep({ calls, spool, finisher, metrics, log, hash: d.hash, now });

  const apply = async (ev: CdrEvent): Promise<void> => {
    if (ev.type === 'stop') return onStop(ev);
    const r = await calls.merge(ev, now());
    if (r !== 'ok') metrics.cdrsSkipped.inc({ reason: 'duplicate' });
  };
  const intake = createEventIntake({ conn, apply, metrics, log, now });

  let started = false;
  let closing = false;
  /** Shutdown done: no event is applied any more, a running sweep is cut short. */
  let closed = false;
  const timers: NodeJS.Timeout[] = [];

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
    forgetAccount: (sid) => accounts.invalidate(sid),
    setReplicaAcks: (n) => confirmation.setReplicas(n),

    subscribe(srf) {
      const on = srf.on.bind(srf) as unknown as (event: string, fn: (...args: unknown[]) => void) => void;
      on('cdr:attempt', (...args) => intake.take('attempt', args));
      on('cdr:start', (...args) => intake.take('start', args));
      on('cdr:stop', (...args) => intake.take('stop', args));
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
      await intake.settle();
      if (started) await writer.flush();
    },

    async close() {
      if (closing) return;
      closing = true;
      intake.giveUp(); // events waiting for Redis to come back give up now and are counted as lost
      for (const t of timers) clearInterval(t);
      await settlesWithin(writer.close(), CLOSE_WAIT_MS);
      await intake.close(CLOSE_WAIT_MS);
      closed = true;
    },

    async refreshGauges() {
      const t = now();
      metrics.callsInFlight.set(await gaugeCalls.countInFlight(t));
      metrics.cdrSpoolDepth.set(await gaugeSpool.depth());
    },
  };
}
