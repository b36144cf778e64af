// The 30-day CDR retention purge against the real MariaDB: rows inserted with back-dated attempted_at
// across ~48 day partitions (and pmax), purged with an injected clock. Exactly the rows attempted
// before the cut-off go, to the millisecond; wholly expired days go as partitions; nothing else is
// touched, a second run finds nothing, and two instances (two pools, like two daemons) take turns.
import t from 'tap';
import mysql from 'mysql2/promise';
import type { ResultSetHeader } from 'mysql2/promise';
import { ensurePartitions, listPartitions } from '../../lib/db/cdr-partitions.js';
import { sqlDateTime } from '../../lib/calls/row.js';
import { LOCKS, scopedLockName } from '../../lib/db/locks.js';
import { migrate } from '../../lib/db/migrate.js';
import { connectionOptions, createPool, ensureDatabase, type Pool } from '../../lib/db/pool.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics, type Metrics } from '../../lib/metrics.js';
import { createRetention, type PurgeResult } from '../../lib/privacy/retention.js';
import { eventually, freshStores, type Stores } from '../helpers/harness.js';
import { metric } from '../calls/helpers.js';

const DAY = 86_400_000;
const ISO = (s: string) => Date.parse(s);
const NOW = ISO('2030-05-20T12:00:00.000Z');
const CUTOFF = NOW - 30 * DAY; // 2030-04-20T12:00:00.000Z
const log = createLogger({ level: 'silent', hashKey: '' });

let stores: Stores;
let poolB: Pool;
t.before(async () => {
  stores = await freshStores('privacy_retention');
  await ensureDatabase({ url: stores.mysqlUrl, database: stores.database });
  await migrate(stores.pool, log);
  poolB = createPool({ url: stores.mysqlUrl, database: stores.database }, 2);
});
t.teardown(async () => {
  await poolB.end();
  await stores.close();
});

/** Every row inserted by the test: call id -> attempted_at (ms) and cdr_id. */
const inserted = new Map<string, { at: number; id: number }>();
async function insert(callId: string, at: number): Promise<void> {
  const [r] = await stores.pool.query<ResultSetHeader>(
    `INSERT INTO cdrs (account_sid, sip_callid, direction, from_user, to_user, attempted_at, terminated_at, answered, termination_reason)
     VALUES ('acct-retention', ?, 'inbound', '15550001111', '15550002222', ?, ?, 0, 'call-rejected')`,
    [callId, sqlDateTime(at), sqlDateTime(at + 1000)]);
  inserted.set(callId, { at, id: r.insertId });
}
/** The cdr_ids in the table, sorted. */
async function idsInTable(): Promise<number[]> {
  const [rows] = await stores.pool.query<mysql.RowDataPacket[]>('SELECT cdr_id FROM cdrs');
  return rows.map((r) => Number(r.cdr_id)).sort((a, b) => a - b);
}
/** The cdr_ids of the inserted rows attempted at or after `cutoff`, sorted. */
const idsKept = (cutoff: number) => [...inserted.values()].filter((r) => r.at >= cutoff).map((r) => r.id).sort((a, b) => a - b);
const partitionNames = async () => (await listPartitions(stores.pool))!.map((p) => p.name);
const days = (from: string, to: string) => {
  const out: string[] = [];
  for (let d = ISO(`${from}T00:00:00Z`); d <= ISO(`${to}T00:00:00Z`); d += DAY) out.push(`p${new Date(d).toISOString().slice(0, 10).replace(/-/g, '')}`);
  return out;
};

interface Counters { ok: number; failed: number; rows: number; partitions: number }
async function counters(m: Metrics): Promise<Counters> {
  return {
    ok: await metric(m.retentionRuns, { result: 'ok' }),
    failed: await metric(m.retentionRuns, { result: 'failed' }),
    rows: await metric(m.retentionRowsPurged),
    partitions: await metric(m.retentionPartitionsDropped),
  };
}

// Two daemons: each its own pool, metrics and clock.
const clock = { ms: NOW };
const metricsA = createMetrics('test');
const metricsB = createMetrics('test');
let retentionA: ReturnType<typeof createRetention>;
let retentionB: ReturnType<typeof createRetention>;
t.before(() => {
  // batchSize 2: the straddling day's rows take several DELETE batches, one of them exactly full.
  retentionA = createRetention({ pool: stores.pool, log, metrics: metricsA, retentionDays: 30, batchSize: 2, clock: () => clock.ms });
  retentionB = createRetention({ pool: poolB, log, metrics: metricsB, retentionDays: 30, batchSize: 2, clock: () => clock.ms });
});

t.test('only the catch-all partition: expired rows are deleted row by row, to the millisecond', async (t) => {
  t.same(await partitionNames(), ['pmax']);
  await insert('pmax-old', ISO('2029-12-01T08:00:00.000Z'));
  await insert('pmax-cutoff-minus-1ms', CUTOFF - 1);
  await insert('pmax-at-cutoff', CUTOFF);
  await insert('pmax-recent', NOW - DAY);
  const before = await counters(metricsA);

  const r = await retentionA.purge();
  t.same(r, { ran: true, partitionsDropped: [], rowsDeleted: 2, rowsHeld: 0, heldReleased: 0, cutoff: new Date(CUTOFF) }, 'the cut-off follows the injected clock');
  t.same(await idsInTable(), idsKept(CUTOFF));
  t.same(await idsInTable(), [inserted.get('pmax-at-cutoff')!.id, inserted.get('pmax-recent')!.id], 'a row attempted exactly at the cut-off stays');
  t.same(await partitionNames(), ['pmax'], 'the catch-all is never dropped');
  const after = await counters(metricsA);
  t.same(after, { ok: before.ok + 1, failed: before.failed, rows: before.rows + 2, partitions: before.partitions });
});

t.test('day partitions 40 days back: expired days dropped, the straddling day emptied up to the cut-off', async (t) => {
  // As a daemon that started 40 days ago would have laid them out, reaching past today.
  const added = await ensurePartitions(stores.pool, NOW - 40 * DAY, { behindDays: 1, aheadDays: 45 });
  t.same(added, days('2030-04-09', '2030-05-25'));
  t.same(await partitionNames(), [...days('2030-04-09', '2030-05-25'), 'pmax']);

  await insert('ancient', ISO('2020-01-01T00:00:00.000Z')); // lands in the lowest partition, p20300409
  for (const p of days('2030-04-09', '2030-05-25')) {
    const day = `${p.slice(1, 5)}-${p.slice(5, 7)}-${p.slice(7, 9)}`;
    await insert(`day-${p}-0600`, ISO(`${day}T06:00:00.000Z`));
  }
  await insert('last-ms-of-wholly-expired-day', ISO('2030-04-19T23:59:59.999Z'));
  await insert('straddle-first-ms', ISO('2030-04-20T00:00:00.000Z'));
  await insert('straddle-cutoff-minus-1s', CUTOFF - 1000);
  await insert('straddle-cutoff-minus-1ms', CUTOFF - 1);
  await insert('straddle-at-cutoff', CUTOFF);
  await insert('straddle-cutoff-plus-1ms', CUTOFF + 1);
  await insert('straddle-last-ms', ISO('2030-04-20T23:59:59.999Z'));
  await insert('pmax-first-ms', ISO('2030-05-26T00:00:00.000Z'));
  await insert('pmax-far-future', ISO('2099-01-01T00:00:00.000Z'));
  const [[{ n: inPmax }]] = await stores.pool.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM cdrs PARTITION (pmax)');
  t.equal(Number(inPmax), 2, 'two rows beyond the last day are in pmax');
  const before = await counters(metricsA);

  const r = await retentionA.purge();
  t.equal(r.ran, true);
  t.same(r.partitionsDropped, days('2030-04-09', '2030-04-19'), 'every day whose end is at or before the cut-off, the lowest included');
  t.equal(r.rowsDeleted, 4, 'the straddling day: 00:00:00.000, 06:00, cut-off - 1 s, cut-off - 1 ms');
  t.same(await idsInTable(), idsKept(CUTOFF), 'exactly the rows attempted at or after the cut-off remain');
  t.same(await partitionNames(), [...days('2030-04-20', '2030-05-25'), 'pmax']);
  const after = await counters(metricsA);
  t.same(after, { ok: before.ok + 1, failed: before.failed, rows: before.rows + 4, partitions: before.partitions + 11 });

  // The remaining rows are untouched, not just present.
  const [rows] = await stores.pool.query<mysql.RowDataPacket[]>('SELECT sip_callid, attempted_at, from_user FROM cdrs ORDER BY attempted_at');
  t.same(rows.map((x) => [x.sip_callid, (x.attempted_at as Date).getTime(), x.from_user]),
    [...inserted.entries()].filter(([, v]) => v.at >= CUTOFF).sort((a, b) => a[1].at - b[1].at).map(([k, v]) => [k, v.at, '15550001111']));

  t.equal(await retentionA.measure(), 30 * 86_400, 'oldest row is exactly at the cut-off: 30 days old at the injected now');
  t.equal(await metric(metricsA.oldestCdrAge), 30 * 86_400, 'sip_sidecar_cdr_oldest_age_seconds');
  t.equal(await retentionA.measure(NOW + 1500), 30 * 86_400 + 1.5, 'fractions of a second count');
});

t.test('a second purge removes nothing; a late straggler in the lowest partition is removed next time', async (t) => {
  const ids = await idsInTable();
  const parts = await partitionNames();
  const before = await counters(metricsA);
  t.same(await retentionA.purge(), { ran: true, partitionsDropped: [], rowsDeleted: 0, rowsHeld: 0, heldReleased: 0, cutoff: new Date(CUTOFF) });
  t.same(await idsInTable(), ids);
  t.same(await partitionNames(), parts);
  t.same(await counters(metricsA), { ...before, ok: before.ok + 1 }, 'counted as a run, no rows, no partitions');

  // A leg attempted 50 days ago, written late: it lands in the lowest partition, which is not wholly expired.
  await insert('late-straggler', NOW - 50 * DAY);
  const [[{ n }]] = await stores.pool.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM cdrs PARTITION (p20300420) WHERE sip_callid = ?', ['late-straggler']);
  t.equal(Number(n), 1, 'the lowest partition holds anything older');
  const r = await retentionA.purge();
  t.same(r, { ran: true, partitionsDropped: [], rowsDeleted: 1, rowsHeld: 0, heldReleased: 0, cutoff: new Date(CUTOFF) });
  t.same(await idsInTable(), idsKept(CUTOFF));
});

t.test('two instances while one is mid-purge: the other does nothing and says so', { timeout: 30_000 }, async (t) => {
  clock.ms = NOW + 2 * DAY;
  const cutoff = CUTOFF + 2 * DAY; // 2030-04-22T12:00Z: p20300420 and p20300421 wholly expired
  await insert('overlap-cutoff-minus-1ms', cutoff - 1);
  await insert('overlap-at-cutoff', cutoff);
  const a0 = await counters(metricsA);
  const b0 = await counters(metricsB);

  // Hold a metadata lock on cdrs from another session, so A's DROP PARTITION waits while A holds the named lock.
  const blocker = await mysql.createConnection({ ...connectionOptions(stores.mysqlUrl), database: stores.database });
  t.teardown(() => blocker.end());
  await blocker.query('START TRANSACTION');
  await blocker.query('SELECT COUNT(*) FROM cdrs');
  const runA = retentionA.purge();
  const held = await eventually(async () => {
    const [[row]] = await blocker.query<mysql.RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS owner', [scopedLockName(LOCKS.retention, stores.database)]);
    return row!.owner !== null;
  }, 10_000);
  t.ok(held, 'A holds the retention lock');
  const atDrop = await eventually(async () => {
    const [rows] = await blocker.query<mysql.RowDataPacket[]>(
      `SELECT STATE AS state FROM information_schema.PROCESSLIST WHERE INFO LIKE 'ALTER TABLE cdrs DROP PARTITION%'`);
    return rows.some((r) => /metadata lock/i.test(String(r.state)));
  }, 10_000);
  t.ok(atDrop, 'A is mid-purge: its DROP PARTITION waits for the metadata lock');

  const rB = await retentionB.purge();
  t.same(rB, { ran: false, partitionsDropped: [], rowsDeleted: 0, rowsHeld: 0, heldReleased: 0, cutoff: new Date(cutoff) }, 'B did not wait and did nothing');
  t.same(await counters(metricsB), b0, 'a skipped run moves no counter');

  await blocker.query('COMMIT');
  const rA = await runA;
  t.same(rA, { ran: true, partitionsDropped: ['p20300420', 'p20300421'], rowsDeleted: 2, rowsHeld: 0, heldReleased: 0, cutoff: new Date(cutoff) });
  t.same(await idsInTable(), idsKept(cutoff));
  t.same(await counters(metricsA), { ok: a0.ok + 1, failed: a0.failed, rows: a0.rows + 2, partitions: a0.partitions + 2 });
});

t.test("the lock is this database's own: held here it skips the purge, held for another database it does not", async (t) => {
  const other = await mysql.createConnection(connectionOptions(stores.mysqlUrl));
  t.teardown(() => other.end());
  const before = await counters(metricsA);
  const take = async (database: string) => {
    const [[r]] = await other.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, 0) AS ok', [scopedLockName(LOCKS.retention, database)]);
    t.equal(Number(r!.ok), 1);
  };
  await take(stores.database);
  t.equal((await retentionA.purge()).ran, false, 'another instance of this deployment is purging');
  await other.query('SELECT RELEASE_ALL_LOCKS()');
  await take('sidecar_some_other_deployment');
  t.equal((await retentionA.purge()).ran, true, "another deployment's purge on the same server is no reason to skip");
  await other.query('SELECT RELEASE_ALL_LOCKS()');
  t.same(await counters(metricsA), { ...before, ok: before.ok + 1 });
});

t.test('two instances racing freely: no error, each row and partition purged once, the right final state', async (t) => {
  const results: PurgeResult[] = [];
  // Step 6.5 puts the cut-off exactly at a midnight: the day ending there is wholly expired.
  for (const [i, [step, rowsInStraddle]] of ([[4, 2], [5, 2], [6.5, 0], [8, 2]] as const).entries()) {
    clock.ms = NOW + step * DAY;
    const cutoff = CUTOFF + step * DAY;
    await insert(`race-${i}-cutoff-minus-1ms`, cutoff - 1);
    await insert(`race-${i}-at-cutoff`, cutoff);
    const expired = (await listPartitions(stores.pool))!.filter((p) => p.lessThan !== null && p.lessThan <= cutoff);
    const expectDropped = expired.map((p) => p.name);
    t.ok(expectDropped.length >= 1, `step ${step}: there are days to drop`);
    // Rows of the dropped days go with their partition; the others before the cut-off are deleted.
    const from = Math.max(...expired.map((p) => p.lessThan!));
    const present = new Set(await idsInTable());
    const expectRows = [...inserted.values()].filter((r) => present.has(r.id) && r.at >= from && r.at < cutoff).length;
    t.equal(expectRows, rowsInStraddle, `step ${step}: what the straddling day holds before the cut-off`);
    const [a0, b0] = [await counters(metricsA), await counters(metricsB)];

    const both = await Promise.all([retentionA.purge(), retentionB.purge()]);
    results.push(...both);
    t.ok(both.some((r) => r.ran), `step ${step}: at least one instance ran`);
    const dropped = both.flatMap((r) => r.partitionsDropped);
    t.same([...dropped].sort(), expectDropped, `step ${step}: each expired day dropped by exactly one instance`);
    t.equal(both[0]!.rowsDeleted + both[1]!.rowsDeleted, expectRows, `step ${step}: each expired row deleted once`);
    t.same(await idsInTable(), idsKept(cutoff), `step ${step}: exactly the rows at or after the cut-off remain`);
    const [a1, b1] = [await counters(metricsA), await counters(metricsB)];
    t.equal((a1.ok - a0.ok) + (b1.ok - b0.ok), both.filter((r) => r.ran).length, 'one ok run counted per instance that ran');
    t.equal((a1.rows - a0.rows) + (b1.rows - b0.rows), expectRows);
    t.equal((a1.partitions - a0.partitions) + (b1.partitions - b0.partitions), expectDropped.length);
    t.equal(a1.failed + b1.failed, a0.failed + b0.failed, 'no failed run');
  }
  t.ok(results.filter((r) => r.ran).length >= 4);
  t.same(await partitionNames(), [...days('2030-04-28', '2030-05-25'), 'pmax']);
});

t.test('a purge that cannot run counts as failed and rejects', async (t) => {
  const m = createMetrics('test');
  const bad = createPool({ url: `${stores.mysqlUrl}_missing`, database: `${stores.database}_missing` }, 1);
  t.teardown(() => bad.end());
  const r = createRetention({ pool: bad, log, metrics: m, retentionDays: 30, clock: () => NOW });
  await t.rejects(r.purge());
  t.same(await counters(m), { ok: 0, failed: 1, rows: 0, partitions: 0 });
});

t.test('without a catch-all, the table keeps its last partition (emptied row by row)', async (t) => {
  await stores.pool.query('ALTER TABLE cdrs DROP PARTITION pmax');
  for (const [k, v] of inserted) if (v.at >= ISO('2030-05-26T00:00:00.000Z')) inserted.delete(k);
  t.same(await idsInTable(), idsKept(CUTOFF + 8 * DAY));
  clock.ms = ISO('2031-01-01T00:00:00.000Z');
  const r = await retentionA.purge();
  t.same(r.partitionsDropped, days('2030-04-28', '2030-05-24'), 'all but the last day');
  t.equal(r.rowsDeleted, 1, "the last day's 06:00 row");
  t.same(await partitionNames(), ['p20300525']);
  t.same(await idsInTable(), []);
  t.equal(await metric(metricsA.oldestCdrAge), 30 * 86_400 + 1.5, 'the gauge still holds the last measure');
  t.equal(await retentionA.measure(), 0, 'no CDR: age 0');
  t.equal(await metric(metricsA.oldestCdrAge), 0);
});
