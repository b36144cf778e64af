// Load shapes. Closed loop: N operations outstanding, the next one starts when one ends: finds the
// maximum rate. Open loop: operations start on a schedule (a 1 ms timer) whatever the answers: shows
// the latency at a given rate. Both measure after a warm-up, and report the CPU the generator (this
// process) and the process under test used meanwhile.
import { performance } from 'node:perf_hooks';
import { cpuProbe, percentile, round } from './common.js';
import type { Child } from './procs.js';

export interface LoadResult {
  mode: 'closed' | 'open';
  concurrency?: number;
  targetRate?: number;
  seconds: number;
  /** operations that ended in the window */
  completed: number;
  /** of which 'ok' */
  ok: number;
  /** ok per second */
  rate: number;
  outcomes: Record<string, number>;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** open loop: starts due but skipped because no unit (phone) was idle */
  skipped?: number;
  /** open loop: how late the timer started operations, p99 */
  startLagP99Ms?: number;
  /** CPU used in the window, in % of one core: generator, app, redis, mariadb, machine (all), others (noise) */
  cpuPct: Record<string, number>;
  /** operations slower than 5 ms: [seconds into the window, ms] (at most 100), to see whether they cluster */
  slow?: [number, number][];
}

type Op = () => Promise<string> | null;

/** How many slow operations to keep per window (BENCH_SLOW_CAP; default 100). */
const SLOW_CAP = Number(process.env.BENCH_SLOW_CAP ?? 100);

class Window {
  readonly lat: number[] = [];
  readonly outcomes: Record<string, number> = {};
  private probe: (() => Record<string, number>) | null = null;
  private cpu: Record<string, number> = {};
  constructor(private readonly child: Child | undefined, private readonly pids: Record<string, number | readonly number[]> = {}) {}
  open(): void {
    this.opened = performance.now();
    this.probe = cpuProbe({ ...this.pids, ...(this.child ? { app: this.child.pid } : {}) });
  }
  close(): void {
    this.cpu = this.probe?.() ?? {};
  }
  readonly slow: [number, number][] = [];
  private opened = performance.now();
  add(outcome: string, ms: number): void {
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
    this.lat.push(ms);
    if (ms > 5 && this.slow.length < SLOW_CAP) this.slow.push([round((performance.now() - this.opened) / 1000, 2), round(ms, 1)]);
  }
  result(mode: 'closed' | 'open', seconds: number, extra: Partial<LoadResult>): LoadResult {
    const sorted = Float64Array.from(this.lat).sort();
    const ok = this.outcomes.ok ?? 0;
    return {
      mode, seconds, completed: sorted.length, ok, rate: round(ok / seconds, 1), outcomes: this.outcomes,
      p50Ms: round(percentile(sorted, 50), 3), p90Ms: round(percentile(sorted, 90), 3), p99Ms: round(percentile(sorted, 99), 3),
      maxMs: round(sorted[sorted.length - 1] ?? NaN, 3),
      cpuPct: this.cpu,
      slow: this.slow,
      ...extra,
    };
  }
}

/** `concurrency` workers, each running `op` back to back. Counts operations that end inside the window. */
/** `pids`: more processes to account CPU to (e.g. a private Redis Cluster's servers), not 'others'. */
export async function closedLoop(o: { concurrency: number; warmupMs: number; durationMs: number; op: Op; app?: Child; pids?: Record<string, readonly number[]> }): Promise<LoadResult> {
  const t0 = performance.now();
  const tw = t0 + o.warmupMs;
  const tEnd = tw + o.durationMs;
  const w = new Window(o.app, o.pids);
  const edge = { opened: false, closed: false };
  const worker = async () => {
    while (performance.now() < tEnd) {
      const s = performance.now();
      const p = o.op();
      if (!p) throw new Error('closed loop: no unit available (concurrency above the pool size?)');
      const outcome = await p;
      const e = performance.now();
      // The window opens and closes on the first completion past its edges (timers run late under load).
      if (!edge.opened && e >= tw) { edge.opened = true; w.open(); }
      if (edge.opened && !edge.closed && e > tEnd) { edge.closed = true; w.close(); }
      if (e >= tw && e <= tEnd) w.add(outcome, e - s);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  if (edge.opened && !edge.closed) w.close();
  return w.result('closed', o.durationMs / 1000, { concurrency: o.concurrency });
}

/** Starts `op` `rate` times a second on a schedule. Counts operations scheduled inside the window. */
export async function openLoop(o: { rate: number; warmupMs: number; durationMs: number; op: Op; app?: Child }): Promise<LoadResult> {
  const w = new Window(o.app);
  const lags: number[] = [];
  let skipped = 0;
  const inflight = new Set<Promise<unknown>>();
  const t0 = performance.now();
  const tw = t0 + o.warmupMs;
  const total = o.warmupMs + o.durationMs;
  const last = Math.floor((total * o.rate) / 1000);
  let i = 0;
  let windowOpen = false;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      if (!windowOpen && now >= tw) { windowOpen = true; w.open(); }
      const due = Math.min(last, Math.floor(((now - t0) * o.rate) / 1000));
      while (i < due) {
        const intended = t0 + (i * 1000) / o.rate;
        i++;
        const counted = intended >= tw;
        const s = performance.now();
        const p = o.op();
        if (!p) {
          if (counted) skipped++;
          continue;
        }
        if (counted) lags.push(s - intended);
        const tracked = p.then((outcome) => { if (counted) w.add(outcome, performance.now() - s); });
        inflight.add(tracked);
        void tracked.finally(() => inflight.delete(tracked));
      }
      if (i >= last) {
        w.close();
        resolve();
      } else {
        setTimeout(tick, 1);
      }
    };
    tick();
  });
  await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 10_000))]);
  const sortedLags = Float64Array.from(lags).sort();
  return w.result('open', o.durationMs / 1000, {
    targetRate: o.rate, skipped, startLagP99Ms: round(percentile(sortedLags, 99), 3),
  });
}
