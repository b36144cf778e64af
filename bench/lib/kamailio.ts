// Kamailio 5.6 (Debian's `kamailio`, `kamailio-mysql-modules`) as a baseline: the config of
// bench/e2e/kamailio.cfg on a free 127.0.0.1 port, its tables in a database of its own, stopped by PID
// (the main process and every child it forked).
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freeSipPort } from '../../test/helpers/ports.js';
import { MYSQL_ROOT, ROOT, log, sleep } from './common.js';

const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';
const SCHEMA = '/usr/share/kamailio/mysql';
const TABLES = ['standard', 'auth_db', 'usrloc', 'acc'];

/** The binary, or why Kamailio cannot run here (and how to install it). */
export function kamailioBinary(): { bin: string } | { missing: string } {
  const bin = process.env.KAMAILIO_BIN ?? spawnSync('sh', ['-c', 'command -v kamailio'], { encoding: 'utf8' }).stdout.trim();
  const how = 'apt-get install -y kamailio kamailio-mysql-modules (or set KAMAILIO_BIN)';
  if (!bin || !existsSync(bin)) return { missing: `kamailio is not installed: ${how}` };
  for (const f of [join(MODULES, 'db_mysql.so'), join(SCHEMA, 'acc-create.sql')]) {
    if (!existsSync(f)) return { missing: `${f} is missing: ${how}` };
  }
  return { bin };
}

/** A fresh database with Kamailio's own tables and `subscriber` rows (stored HA1, no password). */
export async function createKamailioDb(database: string, users: { username: string; domain: string; ha1: string }[]): Promise<void> {
  const c = await mysql.createConnection({ uri: MYSQL_ROOT, multipleStatements: true });
  try {
    await c.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await c.query(`CREATE DATABASE \`${database}\``);
    await c.query(`USE \`${database}\``);
    for (const t of TABLES) await c.query(await readFile(join(SCHEMA, `${t}-create.sql`), 'utf8'));
    for (let i = 0; i < users.length; i += 500) {
      await c.query('INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES ?',
        [users.slice(i, i + 500).map((u) => [u.username, u.domain, '', u.ha1, ''])]);
    }
  } finally {
    await c.end();
  }
}

export interface KamailioOptions {
  database: string;
  /** usrloc db_mode: 0 memory only, 1 write-through to MariaDB. */
  dbMode: 0 | 1;
  /** SIP worker processes (default 4: two per core of this machine). */
  children?: number;
}

export interface Kamailio {
  readonly port: number;
  readonly pid: number;
  /** The main process and its children, as they are now. */
  pids(): number[];
  /** SIGTERM to the main process, SIGKILL after 5 s to any process of it still there. Safe twice. */
  stop(): Promise<void>;
}

export async function startKamailio(bin: string, o: KamailioOptions): Promise<Kamailio> {
  const dir = await mkdtemp(join(tmpdir(), 'kamailio-'));
  const port = await freeSipPort();
  const vars: Record<string, string | number> = {
    children: o.children ?? 4, port, dbMode: o.dbMode,
    dbUrl: `${MYSQL_ROOT}/${o.database}`,
  };
  let cfg = readFileSync(join(ROOT, 'bench', 'e2e', 'kamailio.cfg'), 'utf8');
  for (const [k, v] of Object.entries(vars)) cfg = cfg.replaceAll(`{{${k}}}`, String(v));
  await writeFile(join(dir, 'kamailio.cfg'), cfg);
  const child = spawn(bin, ['-f', join(dir, 'kamailio.cfg'), '-DD', '-E', '-w', dir, '-Y', dir, '-m', '256', '-M', '16'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-20_000); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const pid = child.pid!;
  let known: number[] = [pid];
  const pids = () => {
    const now = [pid, ...childrenOf(pid)];
    known = [...new Set([...known, ...now])];
    return now;
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    pids();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
    for (const p of known) if (p !== pid && isKamailio(p)) process.kill(p, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const until = Date.now() + 15_000;
    while (!(await answersOptions(port))) {
      if (child.exitCode !== null) throw new Error(`kamailio exited (${child.exitCode}) at start: ${stderr.slice(-1500)}`);
      if (Date.now() > until) throw new Error(`kamailio did not answer on 127.0.0.1:${port} within 15 s: ${stderr.slice(-1500)}`);
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  log(`kamailio (usrloc db_mode=${o.dbMode}): pid ${pid}, ${pids().length} processes, udp 127.0.0.1:${port}`);
  return { port, pid, pids, stop };
}

function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

function isKamailio(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'kamailio';
  } catch {
    return false;
  }
}

/** One OPTIONS over UDP: any answer means Kamailio's workers are up (the config answers 405). */
function answersOptions(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (ok: boolean) => { clearTimeout(t); s.close(); resolve(ok); };
    const t = setTimeout(() => done(false), 300);
    s.on('message', () => done(true));
    s.on('error', () => done(false));
    s.bind(0, '127.0.0.1', () => {
      const { port: me } = s.address();
      const msg = [
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${me};branch=z9hG4bK-ready-${Date.now()}`,
        'Max-Forwards: 70', `From: <sip:ready@127.0.0.1>;tag=r`, `To: <sip:127.0.0.1:${port}>`,
        `Call-ID: ready-${Date.now()}@127.0.0.1`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', '',
      ].join('\r\n');
      s.send(msg, port, '127.0.0.1');
    });
  });
}
