// Load shapes for the CDR path, whose events get no answer: a call is done when its row is in MySQL.
// "Landed" is polled from the table (MAX(cdr_id) while running: one index probe per partition, the
// table is fresh and written without gaps; COUNT(*) for the final check).
import { performance } from 'node:perf_hooks';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { cpuProbe, percentile, round, sleep } from './common.js';
import type { Child } from './procs.js';

export async function landedRows(pool: Pool): Promise<number> {
  const [[r]] = await pool.query<RowDataPacket[]>('SELECT COALESCE(MAX(cdr_id), 0) AS n FROM cdrs');
  return Number(r!.n);
}

export async function countRows(pool: Pool): Promise<number> {
  const [[r]] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM cdrs');
  return Number(r!.n);
}

function poller(pool: Pool, everyMs = 20) {
  let value = 0;
  let stopped = false;
  let base = 0;
  const ready = landedRows(pool).then((b) => { base = b; });
  const loop = (async () => {
    await ready;
    while (!stopped) {
      value = (await landedRows(pool)) - base;
      await sleep(everyMs);
    }
  })();
  return {
    ready,
    get value() { return value; },
    async stop() { stopped = true; await loop; },
  };
}

export interface CdrLoadResult {
  mode: 'closed' | 'open';
  window?: number;
  targetRate?: number;
  seconds: number;
  /** calls whose row landed in the window, per second */
  callsPerS: number;
  sent: number;
  /** rows added to the table by this run (COUNT(*) after minus before) */
  rows: number;
  allLanded: boolean;
  /** after the last call was sent, until its row (and every other) was in MySQL */
  drainSeconds: number;
  cpuPct: Record<string, number>;
  spool?: { samples: number; max: number; p99: number; mean: number; zeroFraction: number; end: number };
}

/**
 * Closed loop: at most `window` calls sent and not yet in MySQL. Rate = rows landed in the window / its
 * length. Then waits until every row sent is in the table.
 */
export async function cdrClosedLoop(o: {
  window: number; warmupMs: number; durationMs: number; pool: Pool; send: () => Promise<unknown>; app: Child; drainTimeoutMs?: number;
  pids?: Record<string, readonly number[]>;
}): Promise<CdrLoadResult> {
  const before = await countRows(o.pool);
  const landed = poller(o.pool);
  await landed.ready;
  let sent = 0;
  const t0 = performance.now();
  const tw = t0 + o.warmupMs;
  const tEnd = tw + o.durationMs;
  let atTw = 0;
  let probe: (() => Record<string, number>) | null = null;
  for (let now = t0; now < tEnd; now = performance.now()) {
    if (!probe && now >= tw) {
      atTw = landed.value;
      probe = cpuProbe({ ...o.pids, app: o.app.pid });
    }
    const room = o.window - (sent - landed.value);
    if (room <= 0) {
      await sleep(2);
      continue;
    }
    const burst: Promise<unknown>[] = [];
    for (let i = 0; i < Math.min(room, 100); i++, sent++) burst.push(o.send());
    await Promise.all(burst);
  }
  const atEnd = landed.value;
  const cpuPct = probe?.() ?? {};
  const drained = await drain(landed, sent, o.drainTimeoutMs ?? 60_000);
  await landed.stop();
  const rows = (await countRows(o.pool)) - before;
  return {
    mode: 'closed', window: o.window, seconds: o.durationMs / 1000, callsPerS: round((atEnd - atTw) / (o.durationMs / 1000), 1),
    sent, rows, allLanded: rows === sent, drainSeconds: drained, cpuPct,
  };
}

async function drain(landed: { value: number }, sent: number, timeoutMs: number): Promise<number> {
  const t = performance.now();
  while (landed.value < sent && performance.now() - t < timeoutMs) await sleep(20);
  return round((performance.now() - t) / 1000, 2);
}

/** Open loop: `rate` calls a second on a 1 ms timer, sampling the spool's length meanwhile. */
export async function cdrOpenLoop(o: {
  rate: number; durationMs: number; pool: Pool; send: () => Promise<unknown>; app: Child; spoolLength: () => Promise<number>;
}): Promise<CdrLoadResult> {
  const before = await countRows(o.pool);
  const landed = poller(o.pool);
  await landed.ready;
  const samples: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push(await o.spoolLength());
      await sleep(50);
    }
  })();
  const probe = cpuProbe({ app: o.app.pid });
  const t0 = performance.now();
  const last = Math.floor((o.durationMs * o.rate) / 1000);
  let sent = 0;
  const writes: Promise<unknown>[] = [];
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(last, Math.floor(((performance.now() - t0) * o.rate) / 1000));
      while (sent < due) { writes.push(o.send()); sent++; }
      if (sent >= last) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(writes);
  const cpuPct = probe();
  const sentAt = landed.value;
  const drained = await drain(landed, sent, 60_000);
  sampling = false;
  await sampler;
  await landed.stop();
  const rows = (await countRows(o.pool)) - before;
  const sorted = Float64Array.from(samples).sort();
  return {
    mode: 'open', targetRate: o.rate, seconds: o.durationMs / 1000, callsPerS: round(sentAt / (o.durationMs / 1000), 1),
    sent, rows, allLanded: rows === sent, drainSeconds: drained, cpuPct,
    spool: {
      samples: samples.length, max: sorted[sorted.length - 1] ?? NaN, p99: percentile(sorted, 99),
      mean: round(samples.reduce((a, b) => a + b, 0) / samples.length, 1),
      zeroFraction: round(samples.filter((s) => s === 0).length / samples.length, 3), end: await o.spoolLength(),
    },
  };
}
