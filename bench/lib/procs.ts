// The processes under test, each a child of the bench: the real daemon (`node dist/app.js`, configured
// by environment variables only), and the two baselines written as small drachtio-srf apps.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { NONCE_SECRET } from './fixtures.js';
import { REDIS_URL, ROOT, TS_LOADER, WORK_DIR, log, procCpuSeconds, procRssBytes, sleep } from './common.js';

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** The daemon's /metrics etc.; null for the baselines. */
  readonly httpUrl: string | null;
  rss(): number;
  cpuSeconds(): number;
  /** SIGTERM, then wait for the exit (SIGKILL after `graceMs`). Resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

interface Spawned { proc: ChildProcess; lines: string[]; exited: Promise<number | null> }

function spawnLogged(name: string, args: string[], env: Record<string, string>): Spawned {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const file = createWriteStream(join(WORK_DIR, `${name}.log`));
  const lines: string[] = [];
  let tail = '';
  proc.stdout!.on('data', (c: Buffer) => {
    file.write(c);
    const text = tail + c.toString('utf8');
    const parts = text.split('\n');
    tail = parts.pop() ?? '';
    for (const l of parts) if (lines.length < 2000) lines.push(l);
  });
  proc.stderr!.on('data', (c: Buffer) => { file.write(c); process.stderr.write(`[${name}] ${c.toString('utf8')}`); });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => { file.end(); resolve(code); }));
  return { proc, lines, exited };
}

function stopper(s: Spawned) {
  return async (graceMs = 15_000): Promise<number | null> => {
    if (s.proc.exitCode !== null) return s.proc.exitCode;
    s.proc.kill('SIGTERM');
    const timer = setTimeout(() => s.proc.kill('SIGKILL'), graceMs);
    const code = await s.exited;
    clearTimeout(timer);
    return code;
  };
}

async function waitFor<T>(what: string, fn: () => T | null | undefined, s: Spawned, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== null && v !== undefined) return v;
    if (s.proc.exitCode !== null) throw new Error(`${what}: the process exited with ${s.proc.exitCode} (see ${WORK_DIR})`);
    if (Date.now() > until) throw new Error(`${what}: timed out (see ${WORK_DIR})`);
    await sleep(25);
  }
}

export interface DaemonOptions {
  name: string;
  peerPort: number;
  database: string;
  mysqlUrl: string;
  prefix: string;
  env?: Record<string, string>;
  /** Write a V8 CPU profile of the daemon into this directory (node --cpu-prof). */
  cpuProfDir?: string;
}

/** The real daemon as it is deployed: `node dist/app.js`, configured by its environment. */
export async function startDaemon(o: DaemonOptions): Promise<Child> {
  // BENCH_DIST: another build of the daemon (e.g. a copy of dist/ from before a change) for A/B runs.
  const app = join(process.env.BENCH_DIST ?? join(ROOT, 'dist'), 'app.js');
  // BENCH_DAEMON_NODE_ARGS: extra node flags for the daemon only (e.g. --trace-gc).
  const extra = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const args = [...extra, ...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []), app];
  const s = spawnLogged(o.name, args, {
    DRACHTIO_HOST: '127.0.0.1',
    DRACHTIO_PORT: String(o.peerPort),
    DRACHTIO_RETRY_MAX_DELAY_MS: '500',
    REDIS_URL,
    REDIS_KEY_PREFIX: o.prefix,
    MYSQL_URL: o.mysqlUrl,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    LOG_LEVEL: 'info',
    NONCE_SECRET,
    ...o.env,
  });
  const port = await waitFor('daemon HTTP port', () => {
    for (const l of s.lines) {
      if (!l.includes('HTTP server listening')) continue;
      try {
        return (JSON.parse(l) as { port: number }).port;
      } catch { /* not JSON */ }
    }
    return null;
  }, s);
  log(`${o.name}: pid ${s.proc.pid}, http ${port}`);
  return {
    name: o.name,
    pid: s.proc.pid!,
    httpUrl: `http://127.0.0.1:${port}`,
    rss: () => procRssBytes(s.proc.pid!),
    cpuSeconds: () => procCpuSeconds(s.proc.pid!),
    stop: stopper(s),
  };
}

/** A bench/*.ts drachtio-srf app (a baseline) connected to the peer on `peerPort`. */
export async function startBenchApp(name: string, script: string, env: Record<string, string>): Promise<Child> {
  const s = spawnLogged(name, [TS_LOADER, join(ROOT, 'bench', script)], env);
  await waitFor(`${name} ready`, () => (s.lines.some((l) => l.startsWith('ready')) ? true : null), s);
  log(`${name}: pid ${s.proc.pid}`);
  return {
    name,
    pid: s.proc.pid!,
    httpUrl: null,
    rss: () => procRssBytes(s.proc.pid!),
    cpuSeconds: () => procCpuSeconds(s.proc.pid!),
    stop: stopper(s),
  };
}
