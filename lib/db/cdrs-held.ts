// Every statement on `cdrs_held`, the CDRs past retention that a legal hold keeps, and the erasure of
// CDR rows except held ones from both tables. A held row is moved here by the retention purge before
// the day partition it lived in is dropped; it leaves at the first purge after no hold covers it.
import type { Readable } from 'node:stream';
import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { core, DELETE_BATCH, deleteInBatches, filterSql, type CdrFilter } from './cdrs.js';
import type { Db } from './db.js';

/** A condition on a CDR row that is TRUE when a standing hold covers it and FALSE otherwise, never NULL. */
export interface HeldCondition { readonly where: string; readonly params: unknown[] }

export const HELD_COLUMNS = [
  'cdr_id', 'account_sid', 'sip_callid', 'direction', 'from_user', 'to_user', 'remote_host', 'attempted_at', 'answered_at',
  'terminated_at', 'duration', 'answered', 'sip_status', 'termination_reason', 'role', 'user_agent', 'created_at',
] as const;

/** Copies the held rows of `cdrs` attempted before `cutoff` into cdrs_held (again: a no-op). */
export async function moveHeldAside(db: Db, cutoff: Date, held: HeldCondition, heldAt: Date): Promise<number> {
  const cols = HELD_COLUMNS.join(', ');
  const [r] = await db.query<ResultSetHeader>(
    `INSERT IGNORE INTO cdrs_held (${cols}, held_at) SELECT ${cols}, ? FROM cdrs WHERE attempted_at < ? AND ${held.where}`,
    [heldAt, cutoff, ...held.params]);
  return r.affectedRows;
}

/** Deletes the rows of cdrs_held attempted before `cutoff` that no standing hold covers any more. */
export function releaseUnheld(db: Db, cutoff: Date, held: HeldCondition, batch = DELETE_BATCH): Promise<number> {
  return deleteInBatches(db, `DELETE FROM cdrs_held WHERE attempted_at < ? AND NOT ${held.where}`, [cutoff, ...held.params], batch);
}

export async function countRows(db: Db, table: 'cdrs' | 'cdrs_held', where: string, params: unknown[]): Promise<number> {
  const [[r]] = await db.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params);
  return Number(r!.n);
}

export interface CdrMatch {
  /** null: every account. */
  accountSid: string | null;
  /** null: every call; else the calls where one of these is the caller or the callee. */
  numbers: readonly string[] | null;
}

export function matchSql(m: CdrMatch): { where: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (m.accountSid !== null) { parts.push('account_sid = ?'); params.push(m.accountSid); }
  if (m.numbers !== null) { parts.push('(from_user IN (?) OR to_user IN (?))'); params.push(m.numbers, m.numbers); }
  return { where: parts.length ? parts.join(' AND ') : 'TRUE', params };
}

/**
 * Deletes the matching rows of cdrs and cdrs_held but those a standing hold covers. `cdrs`: rows
 * deleted; `held`: matching rows kept for a hold.
 */
export async function eraseExceptHeld(db: Db, m: CdrMatch, held: HeldCondition): Promise<{ cdrs: number; held: number }> {
  const { where, params } = matchSql(m);
  let cdrs = 0;
  let kept = 0;
  for (const table of ['cdrs', 'cdrs_held'] as const) {
    kept += held.where === 'FALSE' ? 0 : await countRows(db, table, `${where} AND ${held.where}`, [...params, ...held.params]);
    cdrs += await deleteInBatches(db, `DELETE FROM ${table} WHERE ${where} AND NOT ${held.where}`, [...params, ...held.params]);
  }
  return { cdrs, held: kept };
}

/** The filter's rows of cdrs_held, oldest first, as a stream of row objects, on the caller's connection. */
export function streamHeldOf(conn: PoolConnection, columns: readonly string[], f: CdrFilter): Readable {
  const { where, params } = filterSql(f);
  return core(conn).query(`SELECT ${columns.join(', ')} FROM cdrs_held WHERE ${where} ORDER BY attempted_at, cdr_id`, params).stream({ highWaterMark: 500 });
}
