// 2. The CDR path: calls per second (three events each: attempt with SDP, start, stop) with every row
// reaching MySQL, against (a) a naive writer doing one INSERT per call and (b) the raw multi-row INSERT
// rate of the same MariaDB, all in the same run; then the spool's length at half the daemon's maximum.
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { createSpool } from '../lib/calls/spool.js';
import { createPool, type Pool } from '../lib/db/pool.js';
import { CDR_COLUMNS, toSqlValues, type SpoolRow } from '../lib/calls/row.js';
import { CDR_VERBS } from '../test/calls/helpers.js';
import { DrachtioPeer } from '../test/peer/drachtio-peer.js';
import { cdrClosedLoop, cdrOpenLoop, countRows, landedRows, type CdrLoadResult } from './lib/cdr-load.js';
import { MYSQL_ROOT, clearPrefix, dropDatabase, log, mysqlUrl, round } from './lib/common.js';
import { callMaker, provisionClients } from './lib/fixtures.js';
import { withClusterDaemon } from './lib/cluster.js';
import { startBenchApp, startDaemon } from './lib/procs.js';
import { ratioRow, type SectionResult } from './lib/report.js';

export interface CdrOptions {
  durationMs: number;
  /** calls outstanding (sent, row not yet in MySQL) in the closed loop */
  window?: number;
  cpuProfDir?: string;
}

const DB = 'sidecar_bench_cdr';
const NAIVE_DB = 'sidecar_bench_cdr_naive';
const RAW_DB = 'sidecar_bench_cdr_raw';
const PREFIX = 'bench:cdr:';
const BATCH = 200; // CDR_BATCH_SIZE's default: the raw rate uses the writer's statement and batch size

const fmt = (r: CdrLoadResult) =>
  `${r.callsPerS} calls/s, sent ${r.sent}, rows ${r.rows}, drained in ${r.drainSeconds} s, cpu ${JSON.stringify(r.cpuPct)}` +
  (r.spool ? `, spool ${JSON.stringify(r.spool)}` : '');

export async function benchCdr(redis: Redis, o: CdrOptions): Promise<SectionResult> {
  const window = o.window ?? 2000;
  for (const db of [DB, NAIVE_DB, RAW_DB]) await dropDatabase(db);
  await clearPrefix(redis, PREFIX);
  const peerD = await DrachtioPeer.listen();
  const daemon = await startDaemon({ name: 'daemon-cdr', peerPort: peerD.port, database: DB, mysqlUrl: mysqlUrl(DB), prefix: PREFIX, cpuProfDir: o.cpuProfDir });
  const pool = createPool({ url: mysqlUrl(DB), database: DB }, 2);
  let naivePool: Pool | null = null;
  let rawPool: Pool | null = null;
  const cleanup: (() => Promise<unknown>)[] = [() => daemon.stop(), () => pool.end(), () => peerD.close()];
  try {
    await peerD.waitForRoutes(CDR_VERBS, { timeoutMs: 30_000 });
    const accountSid = await provisionClients(pool, 0);
    // The baselines write into tables of the very same schema (partitions included).
    const admin = await mysql.createConnection({ uri: MYSQL_ROOT });
    for (const db of [NAIVE_DB, RAW_DB]) {
      await admin.query(`CREATE DATABASE \`${db}\``);
      await admin.query(`CREATE TABLE \`${db}\`.cdrs LIKE \`${DB}\`.cdrs`);
    }
    await admin.end();
    naivePool = createPool({ url: mysqlUrl(NAIVE_DB), database: NAIVE_DB }, 2);
    rawPool = createPool({ url: mysqlUrl(RAW_DB), database: RAW_DB }, 2);
    cleanup.push(() => naivePool!.end(), () => rawPool!.end());

    // (b) raw: the writer's own statement (INSERT IGNORE … VALUES of BATCH rows), back to back on one connection.
    const raw = await rawInsertRate(rawPool, accountSid, Math.min(o.durationMs, 8000));
    log(`cdr: raw multi-row INSERT: ${raw.rowsPerS} rows/s (${raw.rows} rows, batches of ${BATCH})`);

    // The daemon: closed loop, then open loop at half its maximum with the spool sampled.
    const calls = callMaker(`bench-${Date.now().toString(36)}`);
    const send = () => calls.send(peerD);
    const daemonMax = await cdrClosedLoop({ window, warmupMs: 2000, durationMs: o.durationMs, pool, send, app: daemon });
    log(`cdr: daemon closed W=${window}: ${fmt(daemonMax)}`);
    const half = Math.max(1, Math.round(daemonMax.callsPerS / 2));
    const spooled = createSpool(redis, PREFIX, 1);
    const spoolKey = spooled.shards[0]!.key;
    const daemonHalf = await cdrOpenLoop({ rate: half, durationMs: o.durationMs, pool, send, app: daemon, spoolLength: () => spooled.depth() });
    log(`cdr: daemon open ${half}/s: ${fmt(daemonHalf)}`);

    // The writer alone: rows pushed straight into the spool, drained by the daemon's batch writer.
    const drain = await writerDrainRate(redis, spoolKey, pool, accountSid, 40_000);
    log(`cdr: writer drain: ${drain.rowsPerS} rows/s (${drain.rows} rows)`);
    await daemon.stop();

    // (a) naive: the same events from the same generator into a one-INSERT-per-call app.
    const peerN = await DrachtioPeer.listen();
    cleanup.push(() => peerN.close());
    const naive = await startBenchApp('naive-writer', 'naive-writer.ts', {
      DRACHTIO_PORT: String(peerN.port), MYSQL_URL: mysqlUrl(NAIVE_DB), NAIVE_ACCOUNT_SID: accountSid,
    });
    cleanup.push(() => naive.stop());
    await peerN.waitForRoutes(CDR_VERBS, { timeoutMs: 30_000 });
    const naiveCalls = callMaker(`naive-${Date.now().toString(36)}`);
    const naiveMax = await cdrClosedLoop({ window, warmupMs: 2000, durationMs: o.durationMs, pool: naivePool, send: () => naiveCalls.send(peerN), app: naive });
    log(`cdr: naive closed W=${window}: ${fmt(naiveMax)}`);
    await naive.stop();

    // The same daemon on a Redis Cluster (replica acks at their default, 1): one closed loop, the same window.
    const onCluster = await withClusterDaemon({ name: 'daemon-cdr-cluster', database: DB, mysqlUrl: mysqlUrl(DB), prefix: PREFIX, cpuProfDir: o.cpuProfDir },
      CDR_VERBS, async (peerK, daemonK, pids) => {
        const clusterCalls = callMaker(`cluster-${Date.now().toString(36)}`);
        const r = await cdrClosedLoop({ window, warmupMs: 2000, durationMs: o.durationMs, pool, send: () => clusterCalls.send(peerK), app: daemonK, pids });
        log(`cdr: daemon on cluster closed W=${window}: ${fmt(r)}`);
        return r;
      });

    const spool = daemonHalf.spool!;
    return {
      rows: [
        ratioRow({
          section: 'CDR', metric: `calls/s to MySQL, max (closed loop, ${window} outstanding)`, value: daemonMax.callsPerS, unit: '/s',
          baseline: { name: 'naive 1 INSERT/call', value: naiveMax.callsPerS }, goal: '≥ 10× naive',
          met: daemonMax.callsPerS >= 10 * naiveMax.callsPerS && daemonMax.allLanded,
        }),
        ratioRow({
          section: 'CDR', metric: `calls/s to MySQL, max (closed loop, ${window} outstanding)`, value: daemonMax.callsPerS, unit: '/s',
          baseline: { name: `raw INSERT of ${BATCH} rows`, value: raw.rowsPerS }, goal: '≥ 0.70× raw',
          met: daemonMax.callsPerS >= 0.7 * raw.rowsPerS && daemonMax.allLanded,
        }),
        ratioRow({
          section: 'CDR', metric: 'batch writer alone, rows/s (spool pre-filled)', value: drain.rowsPerS, unit: '/s',
          baseline: { name: `raw INSERT of ${BATCH} rows`, value: raw.rowsPerS }, goal: '— (diagnostic)', met: null,
        }),
        {
          section: 'CDR', metric: `spool LLEN at 50 % of max (${half} calls/s, open loop): max / p99 / end`,
          value: spool.max, unit: 'rows', goal: `≤ ${2 * BATCH} (one batch forming), 0 at end`,
          met: spool.max <= 2 * BATCH && spool.end === 0 && daemonHalf.allLanded,
        },
        ratioRow({
          section: 'CDR', metric: `calls/s to MySQL on a Redis Cluster (3 masters + 3 replicas, replica ack 1), closed loop, ${window} outstanding`,
          value: onCluster.callsPerS, unit: '/s', baseline: { name: 'the daemon on one server', value: daemonMax.callsPerS },
          goal: '— (sizing; every row landed)', met: onCluster.allLanded ? null : false,
        }),
      ],
      details: {
        raw, daemonMax, daemonHalf, drain, naiveMax, onCluster,
        clusterRatio: round(onCluster.callsPerS / daemonMax.callsPerS, 3),
        daemonMaxCallsPerS: daemonMax.callsPerS,
        note: 'a call = cdr:attempt (INVITE with SDP) + cdr:start (200 OK with SDP) + cdr:stop (BYE) through the drachtio peer; done when its row is in MySQL',
      },
    };
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    await clearPrefix(redis, PREFIX);
    for (const db of [DB, NAIVE_DB, RAW_DB]) await dropDatabase(db);
  }
}

function spoolRow(i: number, tag: string, accountSid: string): SpoolRow {
  const t = Date.now();
  return {
    f: 1, callId: `${tag}-${i}@10.9.8.7`, accountSid, direction: 'inbound', fromUser: '15550001111', toUser: '15557770000',
    remoteHost: '198.51.100.7', attemptedAt: t, answeredAt: t, terminatedAt: t, duration: 0, answered: true, sipStatus: 200,
    reason: 'normal-release', role: 'uas', userAgent: 'BenchPhone/2.1',
  };
}

async function rawInsertRate(pool: Pool, accountSid: string, ms: number) {
  const sql = `INSERT IGNORE INTO cdrs (${CDR_COLUMNS.join(', ')}) VALUES ?`;
  const conn = await pool.getConnection();
  let rows = 0;
  const tag = `raw-${Date.now().toString(36)}`;
  try {
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      const values = Array.from({ length: BATCH }, (_, j) => toSqlValues(spoolRow(rows + j, tag, accountSid), accountSid));
      await conn.query(sql, [values]);
      rows += BATCH;
    }
    const secs = (performance.now() - t0) / 1000;
    return { rows, seconds: round(secs, 2), rowsPerS: round(rows / secs, 1), count: await countRows(pool) };
  } finally {
    conn.release();
  }
}

async function writerDrainRate(redis: Redis, spoolKey: string, pool: Pool, accountSid: string, n: number) {
  const before = await landedRows(pool);
  const tag = `drain-${Date.now().toString(36)}`;
  for (let i = 0; i < n; i += 1000) {
    await redis.rpush(spoolKey, ...Array.from({ length: Math.min(1000, n - i) }, (_, j) => JSON.stringify(spoolRow(i + j, tag, accountSid))));
  }
  // The writer notices them on its next flush tick; time from the first row written to the last.
  let first = 0;
  const until = performance.now() + 120_000;
  for (;;) {
    const c = (await landedRows(pool)) - before;
    if (c > 0 && !first) first = performance.now();
    if (c >= n || performance.now() > until) {
      const secs = (performance.now() - first) / 1000;
      return { rows: c, seconds: round(secs, 2), rowsPerS: round(c / secs, 1) };
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
