// Every statement on `admin_access_log`: appended in batches, streamed out, purged after 400 days.
// No erasure of an account touches it (it names accounts only by keyed hash).
import type { Readable } from 'node:stream';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { deleteInBatches } from './cdrs.js';
import type { Db } from './db.js';

export const ACCESS_LOG_RETENTION_DAYS = 400;

export interface AccessEntry {
  at: Date;
  tokenName: string | null;
  method: string;
  route: string;
  subjectHash: string | null;
  numberHash: string | null;
  holdId: string | null;
  status: number;
  counts: Record<string, number> | null;
  durationMs: number;
  clientHash: string;
}

export const ACCESS_LOG_COLUMNS = [
  'id', 'at', 'token_name', 'method', 'route', 'subject_hash', 'number_hash', 'hold_id', 'status', 'counts', 'duration_ms', 'client_hash',
] as const;

export async function insertAccessEntries(db: Db, entries: readonly AccessEntry[]): Promise<void> {
  await db.query(
    'INSERT INTO admin_access_log (at, token_name, method, route, subject_hash, number_hash, hold_id, status, counts, duration_ms, client_hash) VALUES ?',
    [entries.map((e) => [e.at, e.tokenName, e.method, e.route, e.subjectHash, e.numberHash, e.holdId, e.status,
      e.counts === null ? null : JSON.stringify(e.counts), e.durationMs, e.clientHash])]);
}

/** The entries in [since, until), oldest first, as a stream of rows. */
export function streamAccessEntries(pool: Pool, since: Date, until: Date): Readable {
  return pool.pool.query(
    `SELECT ${ACCESS_LOG_COLUMNS.join(', ')} FROM admin_access_log WHERE at >= ? AND at < ? ORDER BY at, id`, [since, until],
  ).stream({ highWaterMark: 500 });
}

export function purgeAccessEntries(db: Db, before: Date): Promise<number> {
  return deleteInBatches(db, 'DELETE FROM admin_access_log WHERE at < ?', [before]);
}

/** Up to `limit` ids of entries whose token name or route holds something like an IP address (the audit). */
export async function accessLogIdsWithAddresses(db: Db, limit: number): Promise<number[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT id FROM admin_access_log WHERE CONCAT_WS('\n', token_name, route) REGEXP '[0-9]+\\\\.[0-9]+\\\\.[0-9]+\\\\.[0-9]+|::' LIMIT ${limit}`);
  return rows.map((r) => Number(r.id));
}
