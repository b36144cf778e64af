// A real drachtio-server (DRACHTIO_BIN, v0.9.10 from ../shared/drachtio) on free loopback ports, with a
// generated config in a temporary folder of its own, stopped by PID. Used by the e2e tests and bench/.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, freeSipPort } from '../helpers/ports.js';

export const SECRET = 'cymru';

/** The binary for a test file, or (outside CI, without one) the file ends here as skipped, saying how to run it. */
export function drachtioBinOrSkip(t: { plan(n: number, why?: string): void }): string {
  const found = drachtioBinary();
  if ('bin' in found) return found.bin;
  t.plan(0, found.skip);
  process.exit(0);
}

/**
 * The binary, or why there is none. Outside CI a missing DRACHTIO_BIN skips the e2e tests with one
 * line saying how to enable them; under CI=true it is a failure: CI must never pass by skipping them.
 */
export function drachtioBinary(): { bin: string } | { skip: string } {
  const bin = process.env.DRACHTIO_BIN;
  if (bin && existsSync(bin)) return { bin };
  const how = 'set DRACHTIO_BIN to a drachtio-server v0.9.10 binary: DRACHTIO_BIN=$(../shared/drachtio/install-runtime.sh) npx tap test/e2e';
  const why = bin ? `DRACHTIO_BIN=${bin} does not exist` : 'DRACHTIO_BIN is not set';
  if (process.env.CI === 'true') throw new Error(`e2e tests need a real drachtio-server under CI: ${why}; ${how}`);
  return { skip: `${why}; ${how}` };
}

export interface DrachtioOptions {
  /** Outbound mode: drachtio-server opens a TCP connection to this app per REGISTER. */
  registerHandler?: { host: string; port: number };
  /** Default true: send cdr:* events to apps that route them. */
  cdrs?: boolean;
  /** drachtio-server's log level (default notice, as in production). */
  loglevel?: 'notice' | 'error' | 'warning' | 'info' | 'debug';
}

export interface DrachtioServer {
  readonly adminPort: number;
  /** SIP over UDP and TCP, on 127.0.0.1. */
  readonly sipPort: number;
  readonly pid: number | undefined;
  /** Its log file so far (for a failing test's message). */
  log(): Promise<string>;
  /** SIGKILL: a crash, with no goodbye to anyone. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and config. */
  restart(): Promise<void>;
  /** SIGTERM, then SIGKILL after 3 s; removes its folder. Safe twice. */
  stop(): Promise<void>;
}

export async function startDrachtio(bin: string, o: DrachtioOptions = {}): Promise<DrachtioServer> {
  const dir = await mkdtemp(join(tmpdir(), 'drachtio-'));
  const adminPort = await freePort();
  const sipPort = await freeSipPort();
  const handler = o.registerHandler
    ? `<request-handlers><request-handler sip-method="REGISTER">tcp://${o.registerHandler.host}:${o.registerHandler.port}</request-handler></request-handlers>`
    : '';
  const conf = join(dir, 'drachtio.conf.xml');
  await writeFile(conf, `<drachtio>
  <admin port="${adminPort}" secret="${SECRET}">127.0.0.1</admin>
  ${handler}
  <sip>
    <contacts><contact>sip:127.0.0.1:${sipPort};transport=udp,tcp</contact></contacts>
  </sip>
  <cdrs>${o.cdrs === false ? 'false' : 'true'}</cdrs>
  <logging>
    <file>
      <name>${join(dir, 'drachtio.log')}</name>
      <archive>${join(dir, 'archive')}</archive>
      <size>100</size>
      <maxFiles>2</maxFiles>
      <auto-flush>true</auto-flush>
    </file>
    <loglevel>${o.loglevel ?? 'notice'}</loglevel>
    <sofia-loglevel>0</sofia-loglevel>
  </logging>
</drachtio>
`);
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let stopped = false;

  const launch = async () => {
    const c = spawn(bin, ['-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    child = c;
    exited = new Promise<void>((r) => c.once('exit', () => r()));
    // Ready once the admin port accepts a connection (the SIP ports open before it).
    const until = Date.now() + 10_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`drachtio-server exited (${c.exitCode}) at start: ${stderr.slice(-500)}`);
      if (await canConnect(adminPort)) return;
      if (Date.now() > until) throw new Error(`drachtio-server's admin port ${adminPort} did not open within 10 s: ${stderr.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const signal = async (sig: NodeJS.Signals, graceMs: number) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(sig);
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  };

  await launch();
  return {
    adminPort, sipPort,
    get pid() { return child?.pid; },
    log: () => readFile(join(dir, 'drachtio.log'), 'utf8').catch(() => ''),
    kill: () => signal('SIGKILL', 0),
    async restart() {
      await signal('SIGKILL', 0);
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await signal('SIGTERM', 3000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
