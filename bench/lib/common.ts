// What every bench section shares: where things are, the stores, small helpers.
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';

export const ROOT = resolve(__dirname, '..', '..');
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const MYSQL_ROOT = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
/** Logs of the child processes and CPU profiles (not committed). */
export const WORK_DIR = join(tmpdir(), 'sidecar-bench');
mkdirSync(WORK_DIR, { recursive: true });

/** The loader tap uses, so bench/*.ts children run like the tests do. */
export const TS_LOADER = `--import=${join(ROOT, 'node_modules/@tapjs/typescript/dist/esm/import.mjs')}`;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function mysqlUrl(database: string): string {
  return `${MYSQL_ROOT}/${database}`;
}

/** Drops and forgets a bench database (the daemon creates it again with its schema). */
export async function dropDatabase(database: string): Promise<void> {
  const c = await mysql.createConnection({ uri: MYSQL_ROOT });
  try {
    await c.query(`DROP DATABASE IF EXISTS \`${database}\``);
  } finally {
    await c.end();
  }
}

export const clearPrefix = (redis: Redis, prefix: string): Promise<number> => unlinkMatching(redis, `${prefix}*`);

/** UNLINKs every key of this server matching `match`; one key per command, so a cluster node takes it too. */
export async function unlinkMatching(redis: Redis, match: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 5000);
    if (keys.length) {
      const p = redis.pipeline();
      for (const k of keys) p.unlink(k);
      for (const [err, removed] of (await p.exec()) ?? []) {
        if (err) throw err;
        n += Number(removed);
      }
    }
    cursor = next;
  } while (cursor !== '0');
  return n;
}

export async function redisUsedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? NaN);
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds used by this process's children that have exited and been waited for (cutime + cstime of
 * /proc/self/stat): the only way to account a short-lived child, whose /proc entry is gone by the time
 * one would read it.
 */
export function exitedChildrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** Resident set size in bytes, from /proc (Linux). */
export function procRssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

export async function machine(redis: Redis): Promise<Record<string, string | number>> {
  const c = await mysql.createConnection({ uri: MYSQL_ROOT });
  const [[v]] = await c.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v, @@innodb_buffer_pool_size AS bp, @@innodb_flush_log_at_trx_commit AS flush');
  await c.end();
  const info = await redis.info('server');
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    redis: /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown',
    mariadb: String(v!.v),
    innodbBufferPoolMiB: Math.round(Number(v!.bp) / 2 ** 20),
    innodbFlushLogAtTrxCommit: Number(v!.flush),
  };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const round = (x: number, digits = 2) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

export function log(...parts: unknown[]): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${parts.map(String).join(' ')}\n`);
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** The pids of the shared stores, for CPU accounting (Linux; missing ones are skipped). */
export function storePids(redisInfoServer: string): Record<string, number> {
  const out: Record<string, number> = {};
  const r = /^process_id:(\d+)/m.exec(redisInfoServer)?.[1];
  if (r) out.redis = Number(r);
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
        if (comm === 'mariadbd' || comm === 'mysqld') out.mariadb = Number(d);
      } catch { /* gone */ }
    }
  } catch { /* no /proc */ }
  return out;
}

let knownStorePids: Record<string, number> = {};
export function setStorePids(p: Record<string, number>): void { knownStorePids = p; }

/**
 * CPU used from now until the returned function is called, in % of one core: this process
 * ('generator'), each named pid (or group of pids, e.g. a server and the workers it forked, summed),
 * the shared stores, the whole machine ('machine', all cores), and 'others' = machine minus all of
 * these (other work on the box: noise).
 */
export function cpuProbe(pids: Record<string, number | readonly number[]> = {}): () => Record<string, number> {
  const all: Record<string, number | readonly number[]> = { ...knownStorePids, ...pids };
  const cpuOf = (p: number | readonly number[]) => (typeof p === 'number' ? procCpuSeconds(p) : p.reduce((a, x) => a + procCpuSeconds(x), 0));
  const t0 = performance.now();
  const g0 = process.cpuUsage();
  const p0 = Object.fromEntries(Object.entries(all).map(([k, pid]) => [k, cpuOf(pid)]));
  const m0 = machineJiffies();
  return () => {
    const secs = (performance.now() - t0) / 1000;
    const g = process.cpuUsage(g0);
    const out: Record<string, number> = { generator: round(((g.user + g.system) / 1e6 / secs) * 100, 0) };
    for (const [k, pid] of Object.entries(all)) out[k] = round(((cpuOf(pid) - p0[k]!) / secs) * 100, 0);
    const m1 = machineJiffies();
    out.machine = round(((m1.busy - m0.busy) / 100 / secs) * 100, 0);
    out.others = round(out.machine - Object.entries(out).filter(([k]) => k !== 'machine').reduce((a, [, v]) => a + (Number.isFinite(v) ? v : 0), 0), 0);
    return out;
  };
}

/**
 * Waits (at most `maxWaitMs`) until the machine is quiet: in a 1 s sample, other processes (neither
 * this one nor the stores) use less than `maxOthersPct` % of a core. Returns what it saw last.
 */
export async function waitForQuiet(maxWaitMs = 30_000, maxOthersPct = 25): Promise<{ waitedS: number; othersPct: number }> {
  const t0 = Date.now();
  for (;;) {
    const probe = cpuProbe();
    await sleep(1000);
    const others = probe().others ?? 0;
    const waited = (Date.now() - t0) / 1000;
    if (others < maxOthersPct || Date.now() - t0 >= maxWaitMs) {
      if (others >= maxOthersPct) log(`machine still busy (${others} % of a core used by other processes); measuring anyway`);
      return { waitedS: round(waited, 1), othersPct: others };
    }
    log(`machine busy (${others} % of a core used by other processes); waiting`);
  }
}
