// Every statement on `cdrs` but its DDL (cdr-partitions.ts): the writer's insert, the export's
// cursor, the retention purge's deletes, the oldest-row gauge, the audit's reads. Erasure, which keeps
// held rows in cdrs and cdrs_held alike, is in cdrs-held.ts.
import type { Readable } from 'node:stream';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Connection as CoreConnection } from 'mysql2';
import type { Db } from './db.js';

/** The callback connection inside a promise one (mysql2 types it as the promise kind): its queries can stream. */
export const core = (conn: PoolConnection): CoreConnection => conn.connection as unknown as CoreConnection;

/** Deletes in batches of this many rows, each its own statement: no long lock on live partitions. */
export const DELETE_BATCH = 5000;

export async function deleteInBatches(db: Db, sql: string, params: unknown[], batch = DELETE_BATCH): Promise<number> {
  let total = 0;
  for (;;) {
    const [r] = await db.query<ResultSetHeader>(`${sql} LIMIT ${batch}`, params);
    total += r.affectedRows;
    if (r.affectedRows < batch) return total;
  }
}

export function deleteCdrsBefore(db: Db, cutoff: Date, batch = DELETE_BATCH): Promise<number> {
  return deleteInBatches(db, 'DELETE FROM cdrs WHERE attempted_at < ?', [cutoff], batch);
}

export async function oldestCdr(db: Db): Promise<Date | null> {
  const [[row]] = await db.query<RowDataPacket[]>('SELECT MIN(attempted_at) AS oldest FROM cdrs');
  return row?.oldest ? new Date(row.oldest as Date) : null;
}

/** One multi-row INSERT IGNORE (the unique key makes a re-inserted row a no-op); the rows inserted. */
export async function insertCdrs(db: Db, columns: readonly string[], values: unknown[][]): Promise<number> {
  const [res] = await db.query<ResultSetHeader>(`INSERT IGNORE INTO cdrs (${columns.join(', ')}) VALUES ?`, [values]);
  return res.affectedRows;
}

/** Which of an account's CDRs: in [since, until) when bounded; with `numbers`, the calls where one of them is the caller or the callee. */
export interface CdrFilter {
  accountSid: string;
  since: Date | null;
  until: Date | null;
  numbers: readonly string[] | null;
}

/** The WHERE clause of a filter, for cdrs and cdrs_held alike. */
export function filterSql(f: CdrFilter): { where: string; params: unknown[] } {
  const where = ['account_sid = ?'];
  const params: unknown[] = [f.accountSid];
  if (f.since) { where.push('attempted_at >= ?'); params.push(f.since); }
  if (f.until) { where.push('attempted_at < ?'); params.push(f.until); }
  if (f.numbers) { where.push('(from_user IN (?) OR to_user IN (?))'); params.push(f.numbers, f.numbers); }
  return { where: where.join(' AND '), params };
}

/** The filter's rows, oldest first, as a stream of row objects (flat memory), on the caller's connection. */
export function streamCdrsOf(conn: PoolConnection, columns: readonly string[], f: CdrFilter): Readable {
  const { where, params } = filterSql(f);
  return core(conn).query(`SELECT ${columns.join(', ')} FROM cdrs WHERE ${where} ORDER BY attempted_at, cdr_id`, params).stream({ highWaterMark: 500 });
}

/** cdrs, or cdrs_held (the same columns: rows past retention a legal hold keeps). */
export type CdrTable = 'cdrs' | 'cdrs_held';

/** Up to `limit` ids of rows where one of `columns` matches the regular expression `pattern`. */
export async function cdrIdsMatching(db: Db, columns: readonly string[], pattern: string, limit: number, table: CdrTable = 'cdrs'): Promise<number[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT cdr_id FROM ${table} WHERE ${columns.map((c) => `${c} REGEXP ?`).join(' OR ')} LIMIT ${limit}`, columns.map(() => pattern));
  return rows.map((r) => Number(r.cdr_id));
}

/** Up to `limit` rows whose caller or callee looks like it may hold an IP address (a coarse SQL filter). */
export async function cdrsWithAddressLikeUsers(db: Db, limit: number, table: CdrTable = 'cdrs'): Promise<{ cdrId: number; fromUser: string | null; toUser: string | null }[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT cdr_id, from_user, to_user FROM ${table} WHERE from_user REGEXP '[0-9]+\\\\.[0-9]+\\\\.[0-9]+\\\\.[0-9]+|::' OR to_user REGEXP '[0-9]+\\\\.[0-9]+\\\\.[0-9]+\\\\.[0-9]+|::' LIMIT ${limit}`);
  return rows.map((r) => ({ cdrId: Number(r.cdr_id), fromUser: r.from_user as string | null, toUser: r.to_user as string | null }));
}

/** How many rows were attempted before `cutoff` and fail `except` (SQL with its params), and the lowest id among them. */
export async function countCdrsBefore(db: Db, cutoff: Date, table: CdrTable = 'cdrs', except = { where: 'FALSE', params: [] as unknown[] }): Promise<{ n: number; sample: number | null }> {
  const [[row]] = await db.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n, MIN(cdr_id) AS sample FROM ${table} WHERE attempted_at < ? AND NOT ${except.where}`, [cutoff, ...except.params]);
  return { n: Number(row!.n), sample: row!.sample === null ? null : Number(row!.sample) };
}

/** Every row of `table` that ended after `since`: id, caller, callee and end, streamed. */
export function streamCdrUsersEndedAfter(pool: Pool, table: CdrTable, since: Date): AsyncIterable<{ cdr_id: number; from_user: string | null; to_user: string | null; terminated_at: Date }> {
  return pool.pool.query(`SELECT cdr_id, from_user, to_user, terminated_at FROM ${table} WHERE terminated_at > ?`, [since]).stream() as unknown as
    AsyncIterable<{ cdr_id: number; from_user: string | null; to_user: string | null; terminated_at: Date }>;
}

/**
 * Up to `limit` ids of an account's rows that ended after `from` and, when `to` is set, before it
 * (and were attempted before it), lowest first.
 */
export async function cdrIdsEndedBetween(db: Db, accountSid: string, from: Date, to: Date | null, limit: number): Promise<number[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT cdr_id FROM cdrs WHERE account_sid = ? AND terminated_at > ?${to === null ? '' : ' AND terminated_at < ? AND attempted_at < ?'}
      ORDER BY cdr_id LIMIT ${limit}`,
    [accountSid, from, ...(to === null ? [] : [to, to])]);
  return rows.map((r) => Number(r.cdr_id));
}
