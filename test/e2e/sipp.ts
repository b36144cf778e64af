// sipp (Debian's sip-tester) as a real SIP client or server, on loopback, one process per run, stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freeSipPort } from '../helpers/ports.js';

export const SCENARIOS = join(__dirname, 'scenarios');

export interface SippRun {
  /** sipp's exit code: 0 = every call succeeded, 1 = at least one failed, other = sipp itself failed. */
  code: number | null;
  /** Every message sent and received (-trace_msg), for assertions and failure messages. */
  messages: string;
  errors: string;
  stdout: string;
  /** With `stats`: sipp's statistics (-trace_stat, one `;`-separated row a second, then the final one). */
  stats: string;
  /** With `stats`: every response time sipp measured (-trace_rtt): `Date_ms;response_time_ms;rtd_no`. */
  rtt: string;
}

export interface SippOptions {
  /** A file in SCENARIOS, or a path of its own. */
  scenario: string;
  /** host:port of the SIP server (a UAC), or null for a UAS that waits. */
  target: string | null;
  /** CSV rows after the SEQUENTIAL line (an injection file), e.g. `alice;example.com;[authentication username=alice password=x]`. */
  injection?: string[];
  calls?: number;
  rate?: number;
  transport?: 'udp' | 'tcp';
  /** -key name value pairs, read as [name] in the scenario's messages. */
  keys?: Record<string, string | number>;
  /** {{name}} in the scenario file, replaced before sipp reads it (sipp's -key does not reach attributes). */
  vars?: Record<string, string | number>;
  port?: number;
  /** The address sipp sends from (default 127.0.0.1; any 127.x.y.z is a distinct source to the server). */
  localIp?: string;
  timeoutSeconds?: number;
  /** Default true: -trace_msg. Off for load, where writing every message would cost sipp more than sending it. */
  traceMessages?: boolean;
  /** Statistics and response times in SippRun (a benchmark's figures, by sipp's own clock). */
  stats?: boolean;
  extra?: string[];
}

export interface Sipp {
  readonly port: number;
  readonly pid: number | undefined;
  /** Resolves when sipp exits by itself. */
  done: Promise<SippRun>;
  /** SIGUSR1 (sipp's own "quit after calls in progress"), then SIGKILL. */
  stop(graceMs?: number): Promise<SippRun>;
  /** With `stats`: the statistics sipp has written so far (a row a second), for a caller watching a run. */
  statsSoFar(): Promise<string>;
  /** The messages sipp has traced so far (-trace_msg), for a test waiting on one while the call runs. */
  messagesSoFar(): Promise<string>;
}

export async function startSipp(o: SippOptions): Promise<Sipp> {
  const dir = await mkdtemp(join(tmpdir(), 'sipp-'));
  const port = o.port ?? await freeSipPort();
  let scenario = await readFile(resolve(SCENARIOS, o.scenario), 'utf8');
  for (const [k, v] of Object.entries(o.vars ?? {})) scenario = scenario.replaceAll(`{{${k}}}`, String(v));
  if (/\{\{\w+\}\}/.test(scenario)) throw new Error(`${o.scenario}: ${/\{\{\w+\}\}/.exec(scenario)![0]} has no value in vars`);
  await writeFile(join(dir, 'scenario.xml'), scenario);
  const args = [
    '-sf', join(dir, 'scenario.xml'), '-i', o.localIp ?? '127.0.0.1', '-p', String(port),
    '-t', o.transport === 'tcp' ? 't1' : 'u1',
    '-m', String(o.calls ?? 1), '-r', String(o.rate ?? 10),
    ...(o.traceMessages === false ? [] : ['-trace_msg', '-message_file', join(dir, 'messages.log')]),
    '-trace_err', '-error_file', join(dir, 'errors.log'),
    // the response-time file has no name option: it is <scenario>_<pid>_rtt.csv in sipp's working directory
    ...(o.stats ? ['-trace_stat', '-stf', join(dir, 'stats.csv'), '-fd', '1', '-trace_rtt', '-rtt_freq', '1'] : []),
    '-nostdin', '-timeout', `${o.timeoutSeconds ?? 30}s`, '-timeout_error',
    ...(o.extra ?? []),
  ];
  if (o.injection) {
    await writeFile(join(dir, 'users.csv'), ['SEQUENTIAL', ...o.injection].join('\n') + '\n');
    args.push('-inf', join(dir, 'users.csv'));
  }
  for (const [k, v] of Object.entries(o.keys ?? {})) args.push('-key', k, String(v));
  if (o.target) args.unshift(o.target);
  const child: ChildProcess = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.on('data', (b: Buffer) => { stdout = (stdout + b.toString()).slice(-20_000); });
  child.stderr!.on('data', (b: Buffer) => { stdout = (stdout + b.toString()).slice(-20_000); });
  const done = new Promise<SippRun>((resolve) => {
    child.once('exit', async (code) => {
      const read = (f: string) => readFile(join(dir, f), 'utf8').catch(() => '');
      const run = {
        code, messages: await read('messages.log'), errors: await read('errors.log'), stdout,
        stats: await read('stats.csv'), rtt: await read(`scenario_${child.pid}_rtt.csv`),
      };
      await rm(dir, { recursive: true, force: true });
      resolve(run);
    });
  });
  return {
    port, done,
    get pid() { return child.pid; },
    statsSoFar: () => readFile(join(dir, 'stats.csv'), 'utf8').catch(() => ''),
    messagesSoFar: () => readFile(join(dir, 'messages.log'), 'utf8').catch(() => ''),
    async stop(graceMs = 2000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGUSR1');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const run = await done;
        clearTimeout(t);
        return run;
      }
      return done;
    },
  };
}

/** Runs a sipp UAC to the end; the failure message says what sipp saw. */
export async function runSipp(o: SippOptions): Promise<SippRun> {
  return (await startSipp(o)).done;
}

export function describeRun(r: SippRun): string {
  return `sipp exit ${r.code}\n--- errors\n${r.errors.slice(-3000)}\n--- messages\n${r.messages.slice(-6000)}\n--- output\n${r.stdout.slice(-1500)}`;
}

/** One sipp phone registering through `sipPort` with register.xml: challenged, then `final` (200, 403, …). */
export function sippRegister(sipPort: number, o: { user: string; domain: string; password: string; final?: number; expires?: number; localIp?: string }): Promise<SippRun> {
  return runSipp({
    scenario: 'register.xml', target: `127.0.0.1:${sipPort}`, vars: { final: o.final ?? 200 }, keys: { expires: o.expires ?? 3600 },
    injection: [`${o.user};${o.domain};[authentication username=${o.user} password=${o.password}]`], localIp: o.localIp,
  });
}
