// Fixed-duration sipp runs through a real SIP server, judged by sipp's own statistics, and the search for
// the highest clean rate: doubling until a run is not clean, then bisection between the last clean rate
// and the first that was not.
//
// Clean: every call successful, not one retransmission (by the caller or the callee), the offered rate
// achieved by sipp's own clock, and whatever the target checks itself (e.g. one CDR row per call).
import { startSipp, type Sipp, type SippOptions, type SippRun } from '../../test/e2e/sipp.js';
import { cpuProbe, exitedChildrenCpuSeconds, log, percentile, round, sleep } from './common.js';

/** The last row of sipp's -trace_stat file (its cumulative counters at exit), by column name. */
export function finalStats(run: SippRun): Record<string, string> {
  const lines = run.stats.trim().split('\n');
  if (lines.length < 2) return {};
  const head = lines[0]!.split(';');
  const last = lines.at(-1)!.split(';');
  return Object.fromEntries(head.map((h, i) => [h, last[i] ?? '']));
}

const count = (s: Record<string, string>, k: string) => Number(s[k] ?? NaN);

/**
 * Response times of one rtd (in ms: sipp's clock ticks in milliseconds), and when each exchange began
 * (ms from sipp's start: when the sample was taken less the response time).
 */
export function responseTimes(run: SippRun, rtd: number): { startedAt: number[]; ms: number[] } {
  const startedAt: number[] = [];
  const ms: number[] = [];
  for (const l of run.rtt.split('\n').slice(1)) {
    const [t, rt, no] = l.split(';');
    if (Number(no) !== rtd) continue;
    startedAt.push(Number(t) - Number(rt));
    ms.push(Number(rt));
  }
  return { startedAt, ms };
}

export interface RunPlan {
  /** sipp calls per second offered (a call = one scenario run) */
  rate: number;
  durationS: number;
  /** operations (registrations, calls) per sipp call */
  opsPerCall: number;
  /** the rtd that starts with each call's first message: its start times give the rate sipp achieved */
  launchRtd: number;
}

export interface RunResult {
  rate: number;
  calls: number;
  clean: boolean;
  /** why not clean */
  why: string[];
  /** stopped early, once sipp counted a failure or a retransmission */
  aborted: boolean;
  successful: number;
  failed: number;
  retransmissions: { caller: number; callee: number };
  /** sipp calls per second, by sipp's clock: calls launched over the time from the first launch to the last */
  achievedPerS: number;
  /** operations per second offered (rate × operations per call) */
  opsPerS: number;
  /** response time 1 (see each scenario), ms */
  avgMs: number;
  p99Ms: number;
  /** % of one core per process over the run (and the drain that follows it); sipp: caller and callee */
  cpuPct: Record<string, number>;
  /** CPU µs per operation, per process */
  cpuUsPerOp: Record<string, number>;
  seconds: number;
}

export interface Target {
  name: string;
  /** host:port sipp sends to */
  sipTarget(): string;
  caller: Omit<SippOptions, 'target' | 'calls' | 'rate'>;
  /**
   * A sipp UAS the calls end at, if any: started for each run on a port of its own (the caller's
   * {{callee}} is its host:port), stopped after it.
   */
  callee?: Omit<SippOptions, 'target' | 'calls' | 'rate' | 'port'>;
  /** The processes to account CPU to, as they are now (sipp's own are added). */
  pids(): Record<string, number | readonly number[]>;
  /** Before each run: e.g. count CDR rows. */
  before?(): Promise<void>;
  /** After the run, given what sipp saw: waits for the target's own results, returns why they fail it (none: clean). */
  check?(successfulCalls: number): Promise<string[]>;
}

const SIPP_ARGS = ['-recv_timeout', '5000'];

/** The sipps of the run in progress, so that a signal can stop them too (stopRunningSipps). */
const running = new Set<Sipp>();
let halted = false;

/** Stops, by PID, every sipp a run has started and not yet stopped; no run starts another after this. */
export async function stopRunningSipps(): Promise<void> {
  halted = true;
  for (const s of running) await s.stop(1000);
}

async function startTracked(o: SippOptions, started: Sipp[]): Promise<Sipp> {
  if (halted) throw new Error('e2e: stopping: no new sipp');
  const s = await startSipp(o);
  started.push(s);
  running.add(s);
  return s;
}

/**
 * One run at `plan.rate` calls/s for `plan.durationS` seconds, stopped early once sipp counts a failed
 * call or a retransmission (it is not clean then whatever follows). Every sipp it starts is stopped by
 * PID before it returns.
 */
export async function runAt(t: Target, plan: RunPlan): Promise<RunResult> {
  const calls = Math.max(1, Math.round(plan.rate * plan.durationS));
  const timeoutSeconds = Math.ceil(plan.durationS) + 60;
  const started: Sipp[] = [];
  try {
    await t.before?.();
    const common = { timeoutSeconds, traceMessages: false, stats: true, extra: SIPP_ARGS };
    const cpu0 = exitedChildrenCpuSeconds();
    const probe = cpuProbe(t.pids());
    const t0 = Date.now();
    const callee = t.callee ? await startTracked({ ...t.callee, ...common, target: null, calls }, started) : null;
    const vars = { ...t.caller.vars, ...(callee ? { callee: `127.0.0.1:${callee.port}` } : {}) };
    const caller = await startTracked({ ...t.caller, ...common, vars, target: t.sipTarget(), calls, rate: plan.rate }, started);
    const aborted = await watch(caller, callee);
    const up = await caller.done;
    const down = callee ? await callee.stop(3000) : null;
    const own = await t.check?.(count(finalStats(up), 'SuccessfulCall(C)')) ?? [];
    const seconds = (Date.now() - t0) / 1000;
    const cpuPct = probe();
    // sipp has exited by now: its CPU is in this process's children's (and out of 'others').
    cpuPct.sipp = round(((exitedChildrenCpuSeconds() - cpu0) / seconds) * 100, 0);
    cpuPct.others = cpuPct.others! - cpuPct.sipp;
    return judge(plan, calls, aborted, up, down, own, cpuPct, seconds);
  } finally {
    for (const s of started) {
      await s.stop(1000);
      running.delete(s);
    }
  }
}

/** Until the caller exits; true if it was told to stop early (a failure or retransmission on either side). */
async function watch(caller: Sipp, callee: Sipp | null): Promise<boolean> {
  let exited = false;
  void caller.done.then(() => { exited = true; });
  for (;;) {
    await Promise.race([caller.done, sleep(500)]);
    if (exited) return false;
    for (const s of [caller, callee]) {
      if (!s) continue;
      const lines = (await s.statsSoFar()).trim().split('\n');
      if (lines.length < 2) continue;
      const head = lines[0]!.split(';');
      const last = lines.at(-1)!.split(';');
      const at = (k: string) => Number(last[head.indexOf(k)]);
      if (at('FailedCall(C)') > 0 || at('Retransmissions(C)') > 0) {
        await caller.stop(10_000);
        return true;
      }
    }
  }
}

function judge(plan: RunPlan, calls: number, aborted: boolean, up: SippRun, down: SippRun | null, own: string[], cpuPct: Record<string, number>, seconds: number): RunResult {
  const s = finalStats(up);
  const successful = count(s, 'SuccessfulCall(C)');
  const failed = count(s, 'FailedCall(C)');
  const retransmissions = { caller: count(s, 'Retransmissions(C)'), callee: down ? count(finalStats(down), 'Retransmissions(C)') : 0 };
  const launches = responseTimes(up, plan.launchRtd).startedAt;
  const achievedPerS = launches.length > 1 ? ((launches.length - 1) * 1000) / (Math.max(...launches) - Math.min(...launches)) : NaN;
  const { ms } = responseTimes(up, 1);
  const sorted = Float64Array.from(ms).sort();
  const why: string[] = [];
  if (aborted) why.push('stopped early');
  if (!(successful === calls)) why.push(`${successful} of ${calls} calls successful (sipp exit ${up.code}${failed ? `, ${failed} failed` : ''})`);
  if (!(retransmissions.caller === 0 && retransmissions.callee === 0)) why.push(`retransmissions: caller ${retransmissions.caller}, callee ${retransmissions.callee}`);
  if (!(achievedPerS >= 0.97 * plan.rate)) why.push(`achieved ${round(achievedPerS, 1)}/s of ${plan.rate}/s`);
  why.push(...own);
  const ops = successful * plan.opsPerCall;
  const cpuUsPerOp = Object.fromEntries(Object.entries(cpuPct).map(([k, pct]) => [k, round(((pct / 100) * seconds * 1e6) / ops, 1)]));
  return {
    rate: plan.rate, calls, clean: why.length === 0, why, aborted, successful, failed, retransmissions,
    achievedPerS: round(achievedPerS, 1), opsPerS: plan.rate * plan.opsPerCall,
    avgMs: round(ms.reduce((a, b) => a + b, 0) / ms.length, 2), p99Ms: percentile(sorted, 99),
    cpuPct, cpuUsPerOp, seconds: round(seconds, 1),
  };
}

export interface SearchOptions {
  /** sipp calls/s of the first run */
  start: number;
  /** never offered more than this */
  max: number;
  /** bisection steps after the doubling */
  steps: number;
  durationS: number;
  opsPerCall: number;
  launchRtd: number;
}

export interface SearchResult {
  target: string;
  /** the clean run at the highest rate, or null if not even the lowest rate tried was clean */
  best: RunResult | null;
  runs: RunResult[];
}

/** Doubling from `start` (halving if it is not clean), then `steps` bisections; rates are whole calls/s. */
export async function searchCleanRate(t: Target, o: SearchOptions): Promise<SearchResult> {
  const runs: RunResult[] = [];
  const at = async (rate: number) => {
    const r = await runAt(t, { rate, durationS: o.durationS, opsPerCall: o.opsPerCall, launchRtd: o.launchRtd });
    runs.push(r);
    log(`e2e: ${t.name} ${rate}/s: ${r.clean ? 'clean' : `not clean (${r.why.join('; ')})`}, ${r.opsPerS} ops/s, avg ${r.avgMs} ms, p99 ${r.p99Ms} ms, cpu ${JSON.stringify(r.cpuPct)}`);
    return r;
  };
  let good: RunResult | null = null;
  let bad: number | null = null;
  let rate = o.start;
  for (;;) {
    const r = await at(rate);
    if (r.clean) {
      good = r;
      if (bad !== null || rate >= o.max) break;
      rate = Math.min(o.max, rate * 2);
    } else {
      bad = rate;
      if (good || rate <= 1) break;
      rate = Math.floor(rate / 2);
    }
  }
  for (let i = 0; i < o.steps && good && bad !== null && bad - good.rate > 1; i++) {
    const mid = Math.round((good.rate + bad) / 2);
    const r = await at(mid);
    if (r.clean) good = r;
    else bad = mid;
  }
  return { target: t.name, best: good, runs };
}
