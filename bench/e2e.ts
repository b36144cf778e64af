// 6. Through a real drachtio-server (DRACHTIO_BIN) driven by sipp: the highest clean rate of the daemon
// next to a do-nothing drachtio-srf app on the same server (registrations) and next to the same call
// setup without a CDR consumer (calls), and next to Kamailio 5.6 (auth_db + usrloc, acc) on the same
// MariaDB; latency and CPU per process at each clean maximum, CPU per operation of the data handling.
import { spawnSync } from 'node:child_process';
import type { Redis } from 'ioredis';
import { createPool } from '../lib/db/pool.js';
import { computeHa1 } from '../lib/register/digest.js';
import { drachtioBinary, SECRET, startDrachtio } from '../test/e2e/drachtio-server.js';
import { clearPrefix, cpuProbe, dropDatabase, log, mysqlUrl, sleep, waitForQuiet } from './lib/common.js';
import { callee, calls, freshRegistrations, renewals, rowCheck, type Workload } from './lib/e2e-targets.js';
import { DOMAIN, PASSWORD, provisionClients } from './lib/fixtures.js';
import { createKamailioDb, kamailioBinary, startKamailio, type Kamailio } from './lib/kamailio.js';
import { startBenchApp, startDaemon, type Child } from './lib/procs.js';
import { searchCleanRate, stopRunningSipps, type SearchResult, type Target } from './lib/sipp-load.js';
import type { SectionResult } from './lib/report.js';
import { e2eRows, processTable } from './lib/e2e-report.js';

export interface E2eOptions {
  users: number;
  /** seconds per run */
  durationS: number;
  /** bisection steps after doubling */
  steps: number;
  /** first rate tried (sipp calls/s): registrations, calls */
  start: { register: number; call: number };
  /** only these searches (keys of the results, e.g. daemonCalls), to profile or debug one path */
  only?: ReadonlySet<string>;
  cpuProfDir?: string;
}

const DB = 'sidecar_bench_e2e';
const KAMAILIO_DB = 'bench_kamailio';
const PREFIX = 'bench:e2e:';

/** What is missing for the section to run (empty: nothing); checked before anything starts. */
export function e2eMissing(): string[] {
  const out: string[] = [];
  if (spawnSync('sh', ['-c', 'command -v sipp'], { encoding: 'utf8' }).status !== 0) out.push('sipp is not installed: apt-get install -y sip-tester');
  try {
    const d = drachtioBinary();
    if ('skip' in d) out.push(d.skip);
  } catch (err) {
    out.push((err as Error).message);
  }
  const k = kamailioBinary();
  if ('missing' in k) out.push(k.missing);
  return out;
}

export async function benchE2e(redis: Redis, o: E2eOptions): Promise<SectionResult> {
  const missing = e2eMissing();
  if (missing.length) throw new Error(`e2e: cannot run: ${missing.join('; ')}`);
  const drachtioBin = (drachtioBinary() as { bin: string }).bin;
  const kamailioBin = (kamailioBinary() as { bin: string }).bin;
  // Every process started is stopped by PID, in reverse order, on success, failure or a signal. Each stop is
  // safe twice, so a process stopped early (to make room for the next target) stays on the list.
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    await stopRunningSipps();
    while (stops.length) await stops.pop()!().catch((err: Error) => log(`e2e: stopping: ${err.message}`));
  };
  const onSignal = (sig: NodeJS.Signals) => {
    log(`e2e: ${sig}: stopping every process started`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = <T extends { stop(): Promise<unknown> }>(p: T): T => {
    stops.push(() => p.stop());
    return p;
  };
  const results: Record<string, SearchResult> = {};
  // Redis and MariaDB are shared: what they use with none of our load, just before each search (noise).
  const storesIdlePct: Record<string, Record<string, number>> = {};
  const wants = (...keys: string[]) => !o.only || keys.some((k) => o.only!.has(k));
  const search = async (key: string, t: Target, w: Workload, start: number) => {
    if (!wants(key)) return;
    await waitForQuiet(5000);
    const idle = cpuProbe();
    await sleep(1000);
    const { redis: r, mariadb: m } = idle();
    storesIdlePct[key] = { redis: r!, mariadb: m! };
    results[key] = await searchCleanRate(t, { start, max: 20_000, steps: o.steps, durationS: o.durationS, opsPerCall: w.opsPerCall, launchRtd: w.launchRtd });
  };

  await dropDatabase(DB);
  await clearPrefix(redis, PREFIX);
  stops.push(() => dropDatabase(DB), () => clearPrefix(redis, PREFIX)); // last, after the daemons
  try {
    const drachtio = started(await startDrachtio(drachtioBin, { cdrs: true }));
    const sip = () => `127.0.0.1:${drachtio.sipPort}`;
    const fresh = freshRegistrations(o.users);
    const renew = renewals(o.users);
    // One daemon for the registrations, another for the calls: a CPU profile (--profile) of each. The
    // first one creates the schema, then the users and the number are provisioned.
    let provisioned = false;
    const daemonFor = async (what: string) => {
      const d = started(await startDaemon({
        name: `daemon-e2e-${what}`, peerPort: drachtio.adminPort, database: DB, mysqlUrl: mysqlUrl(DB), prefix: PREFIX,
        env: { DRACHTIO_SECRET: SECRET }, cpuProfDir: o.cpuProfDir,
      }));
      await waitReady(d);
      if (!provisioned) {
        const pool = createPool({ url: mysqlUrl(DB), database: DB }, 2);
        await provisionClients(pool, o.users).finally(() => pool.end());
        provisioned = true;
      }
      return d;
    };
    const daemonPids = (d: Child) => () => ({ drachtio: drachtio.pid!, daemon: d.pid });

    if (wants('daemonFresh', 'daemonRenew')) {
      const daemon = await daemonFor('register');
      await search('daemonFresh', { name: 'daemon fresh', sipTarget: sip, caller: fresh.scenario, pids: daemonPids(daemon) }, fresh, o.start.register);
      await search('daemonRenew', { name: 'daemon renew', sipTarget: sip, caller: renew.scenario, pids: daemonPids(daemon) }, renew, o.start.register);
      await daemon.stop();
    }

    // Calls: with the daemon consuming the CDR events, then with no consumer.
    let callMetrics: string[] = [];
    if (wants('daemonCalls', 'noConsumerCalls')) {
      const proxy = started(await startBenchApp('proxy-app', 'e2e/proxy-app.ts', { DRACHTIO_PORT: String(drachtio.adminPort) }));
      await sleep(300); // its route reaches drachtio-server after `ready`
      if (wants('daemonCalls')) {
        const daemon = await daemonFor('calls');
        const cdrRows = rowCheck('CDR', mysqlUrl(DB), 'SELECT COUNT(*) AS n FROM cdrs WHERE answered = 1');
        await search('daemonCalls', {
          name: 'daemon calls', sipTarget: sip, caller: calls.scenario, callee,
          pids: () => ({ ...daemonPids(daemon)(), app: proxy.pid }), ...cdrRows,
        }, calls, o.start.call);
        // How many CDR events a proxied call costs the daemon (drachtio-server sends a set per leg of the proxy).
        callMetrics = (await (await fetch(`${daemon.httpUrl}/metrics`)).text()).split('\n').filter((l) => /cdr_events_total\{|cdrs_written_total /.test(l));
        await daemon.stop();
      }
      await search('noConsumerCalls', {
        name: 'no consumer calls', sipTarget: sip, caller: calls.scenario, callee,
        pids: () => ({ drachtio: drachtio.pid!, app: proxy.pid }),
      }, calls, o.start.call);
      await proxy.stop();
    }

    // The do-nothing app on the same drachtio-server.
    if (wants('appFresh', 'appRenew')) {
      const app = started(await startBenchApp('null-registrar', 'e2e/null-registrar.ts', { DRACHTIO_PORT: String(drachtio.adminPort) }));
      await sleep(300);
      const appPids = () => ({ drachtio: drachtio.pid!, app: app.pid });
      await search('appFresh', { name: 'do-nothing app fresh', sipTarget: sip, caller: fresh.scenario, pids: appPids }, fresh, o.start.register);
      await search('appRenew', { name: 'do-nothing app renew', sipTarget: sip, caller: renew.scenario, pids: appPids }, renew, o.start.register);
      await app.stop();
    }
    await drachtio.stop();

    // Kamailio: usrloc write-through (db_mode=1) with the calls through acc, then memory only (db_mode=0).
    if (wants('kamailio1Fresh', 'kamailio1Renew', 'kamailioCalls', 'kamailio0Fresh', 'kamailio0Renew')) {
      await createKamailioDb(KAMAILIO_DB, Array.from({ length: o.users }, (_, i) => ({ username: `u${i}`, domain: DOMAIN, ha1: computeHa1('MD5', `u${i}`, DOMAIN, PASSWORD) })));
      stops.push(() => dropDatabase(KAMAILIO_DB));
      for (const dbMode of [1, 0] as const) {
        if (!wants(`kamailio${dbMode}Fresh`, `kamailio${dbMode}Renew`, ...(dbMode === 1 ? ['kamailioCalls'] : []))) continue;
        const k: Kamailio = started(await startKamailio(kamailioBin, { database: KAMAILIO_DB, dbMode }));
        const t = (name: string, caller: Workload['scenario']): Target => ({ name: `kamailio db_mode=${dbMode} ${name}`, sipTarget: () => `127.0.0.1:${k.port}`, caller, pids: () => ({ kamailio: k.pids() }) });
        await search(`kamailio${dbMode}Fresh`, t('fresh', fresh.scenario), fresh, o.start.register);
        await search(`kamailio${dbMode}Renew`, t('renew', renew.scenario), renew, o.start.register);
        if (dbMode === 1) {
          const accRows = rowCheck('acc', mysqlUrl(KAMAILIO_DB), "SELECT COUNT(*) AS n FROM acc WHERE method = 'INVITE' AND sip_code = '200'");
          await search('kamailioCalls', { ...t('calls', calls.scenario), callee, ...accRows }, calls, o.start.call);
        }
        await k.stop();
      }
    }
    return { rows: e2eRows(results), details: { options: o, note: NOTE, processTable: processTable(results), storesIdlePct, callMetrics, results } };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stopAll();
  }
}

const NOTE = 'sipp -> real drachtio-server v0.9.10 (or Kamailio) over UDP on 127.0.0.1; a rate is clean when every call succeeded, '
  + 'neither sipp retransmitted, sipp achieved the offered rate by its own clock, and (calls) one answered CDR row per successful call; '
  + 'latency by sipp (ms clock ticks); CPU from /proc over each run and its drain; Redis and MariaDB are shared with other work on the box';

/** Until /readyz answers 200: drachtio-server, Redis and MariaDB connected. */
async function waitReady(d: Child, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const r = await fetch(`${d.httpUrl}/readyz`);
      if (r.status === 200) return;
      last = `${r.status} ${await r.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`e2e: the daemon was not ready within ${timeoutMs} ms: /readyz ${last}`);
}
