// 4. Retention: purging one day of CDRs (1,000,000 rows by default) by dropping its partition
// (lib/privacy/retention.ts createRetention().purge, as the daemon runs it) against deleting the same
// rows in batches (the statement that purge uses for a partition it cannot drop: DELETE … LIMIT 5000,
// each its own transaction), in the same run on the same table: two consecutive days hold the same
// rows, one is deleted, the other purged.
import { performance } from 'node:perf_hooks';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { ensurePartitions } from '../lib/db/cdr-partitions.js';
import { migrate } from '../lib/db/migrate.js';
import { createPool, ensureDatabase, type Pool } from '../lib/db/pool.js';
import { createLogger } from '../lib/log.js';
import { createMetrics } from '../lib/metrics.js';
import { createRetention } from '../lib/privacy/retention.js';
import { dropDatabase, log, mysqlUrl, round } from './lib/common.js';
import { ratioRow, type SectionResult } from './lib/report.js';

const DB = 'sidecar_bench_retention';
const DAY_MS = 86_400_000;
const RETENTION_DAYS = 30;
const DELETE_BATCH = 5000; // createRetention's default batch

export interface PreparedRetention { pool: Pool; dayA: number; dayB: number; rows: number; fillSeconds: number }

/**
 * Fills two consecutive days (40 and 39 days ago, UTC) with the same `rows` rows each — identical but
 * for the day — in a table with the daemon's schema and day partitions. Slow (tens of seconds) and
 * MySQL-only, so run.ts runs it while the Redis-only bindings section measures.
 */
export async function prepareRetention(o: { rows: number }): Promise<PreparedRetention> {
  await dropDatabase(DB);
  const config = { url: mysqlUrl(DB), database: DB };
  await ensureDatabase(config);
  const pool = createPool(config, 2);
  await migrate(pool, createLogger({ level: 'silent', hashKey: 'bench' }));
  const dayA = Math.floor(Date.now() / DAY_MS) * DAY_MS - 40 * DAY_MS;
  const dayB = dayA + DAY_MS;
  await ensurePartitions(pool, dayA);
  const t = performance.now();
  await fill(pool, dayA, o.rows);
  await fill(pool, dayB, o.rows);
  const fillSeconds = round((performance.now() - t) / 1000, 1);
  log(`retention: filled 2 days × ${o.rows} rows in ${fillSeconds} s`);
  return { pool, dayA, dayB, rows: o.rows, fillSeconds };
}

/** Day A by batched DELETE, then day B by createRetention().purge (which drops its partition). */
export async function benchRetention(prepared: Promise<PreparedRetention>): Promise<SectionResult> {
  const { pool, dayA, dayB, rows, fillSeconds } = await prepared;
  const silent = createLogger({ level: 'silent', hashKey: 'bench' });
  try {
    const [[counts]] = await pool.query<RowDataPacket[]>(
      'SELECT SUM(attempted_at < ?) AS a, SUM(attempted_at >= ? AND attempted_at < ?) AS b FROM cdrs', [new Date(dayB), new Date(dayB), new Date(dayB + DAY_MS)]);
    if (Number(counts!.a) !== rows || Number(counts!.b) !== rows) throw new Error(`retention bench: expected ${rows} rows per day, found ${counts!.a} / ${counts!.b}`);

    // The same statement createRetention uses for rows it cannot drop with their partition.
    const cutoffA = new Date(dayA + DAY_MS);
    const t1 = performance.now();
    let deleted = 0;
    let statements = 0;
    for (;;) {
      const [r] = await pool.query<ResultSetHeader>('DELETE FROM cdrs WHERE attempted_at < ? LIMIT ?', [cutoffA, DELETE_BATCH]);
      deleted += r.affectedRows;
      statements++;
      if (r.affectedRows < DELETE_BATCH) break;
    }
    const deleteS = (performance.now() - t1) / 1000;
    log(`retention: batched DELETE of ${deleted} rows in ${round(deleteS, 2)} s (${statements} statements)`);

    const retention = createRetention({ pool, log: silent, metrics: createMetrics('bench'), retentionDays: RETENTION_DAYS });
    // "now" such that the cut-off (now − 30 days) is the end of day B: its partition is wholly expired.
    const cutoffB = new Date(dayB + DAY_MS);
    const t2 = performance.now();
    const purged = await retention.purge(cutoffB.getTime() + RETENTION_DAYS * DAY_MS);
    const dropS = (performance.now() - t2) / 1000;
    const [[left]] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM cdrs WHERE attempted_at < ?', [cutoffB]);
    log(`retention: purge dropped ${purged.partitionsDropped.join(', ')} and deleted ${purged.rowsDeleted} rows in ${round(dropS, 3)} s; ${left!.n} left`);
    if (Number(left!.n) !== 0 || deleted !== rows) throw new Error('retention bench: rows were left behind');

    return {
      rows: [
        ratioRow({
          section: 'retention', metric: `purge one day of ${rows.toLocaleString('en-US')} CDRs: partition drop (createRetention)`,
          value: round(dropS, 3), unit: 's', baseline: { name: `batched DELETE (LIMIT ${DELETE_BATCH})`, value: round(deleteS, 2) },
          goal: '— (reported)', met: null,
        }),
      ],
      details: {
        rows, fillSeconds,
        batchedDelete: { seconds: round(deleteS, 2), statements, rowsPerS: round(deleted / deleteS, 0) },
        partitionDrop: { seconds: round(dropS, 3), partitionsDropped: purged.partitionsDropped, rowsDeleted: purged.rowsDeleted },
        speedup: round(deleteS / dropS, 0),
        method: 'two consecutive days filled with the same rows (identical but for the day); day A deleted in batches, then day B purged by createRetention (partition drop); same table, same run',
      },
    };
  } finally {
    await pool.end();
    await dropDatabase(DB);
  }
}

/** `n` rows spread over the UTC day starting at `day`, generated inside MariaDB (the SEQUENCE engine). */
async function fill(pool: Pool, day: number, n: number): Promise<number> {
  const t = performance.now();
  const stepUs = Math.floor((DAY_MS * 1000) / (n + 1));
  const start = new Date(day).toISOString().slice(0, 19).replace('T', ' ');
  for (let from = 1; from <= n; from += 250_000) {
    const to = Math.min(n, from + 249_999);
    await pool.query(`INSERT INTO cdrs (account_sid, sip_callid, direction, from_user, to_user, remote_host, attempted_at, answered_at,
        terminated_at, duration, answered, sip_status, termination_reason, role, user_agent, created_at)
      SELECT '0b6c1f9e-1111-4222-8333-444455556666', CONCAT('ret-', LPAD(seq, 8, '0'), '@10.9.8.7'), 'inbound', CONCAT('1555000', LPAD(seq % 10000, 4, '0')),
        '15557770000', '198.51.100.7', TIMESTAMPADD(MICROSECOND, seq * ${stepUs}, '${start}'),
        TIMESTAMPADD(MICROSECOND, seq * ${stepUs} + 2000000, '${start}'), TIMESTAMPADD(MICROSECOND, seq * ${stepUs} + 62000000, '${start}'),
        60, 1, 200, 'normal-release', 'uas', 'BenchPhone/2.1', UTC_TIMESTAMP(3)
      FROM seq_${from}_to_${to}`);
  }
  return round((performance.now() - t) / 1000, 1);
}
