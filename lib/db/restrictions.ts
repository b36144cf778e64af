// Every statement on `cdr_restrictions`: keyed hashes of restricted numbers, never the numbers.
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Db } from './db.js';

export interface RestrictionRow { numberHash: string; restrictedAt: Date; createdBy: string }

export async function allRestrictions(db: Db): Promise<RestrictionRow[]> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT number_hash, restricted_at, created_by FROM cdr_restrictions');
  return rows.map((r) => ({ numberHash: String(r.number_hash), restrictedAt: r.restricted_at as Date, createdBy: String(r.created_by) }));
}

/** Changes whenever a restriction is added (and, but for a coincidence, removed): cheap to poll. */
export async function restrictionsVersion(db: Db): Promise<string> {
  const [[r]] = await db.query<RowDataPacket[]>('SELECT COUNT(*) AS n, MAX(restricted_at) AS latest FROM cdr_restrictions');
  return `${r!.n}/${r!.latest instanceof Date ? r!.latest.getTime() : ''}`;
}

export async function getRestriction(db: Db, numberHash: string): Promise<RestrictionRow | null> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT number_hash, restricted_at, created_by FROM cdr_restrictions WHERE number_hash = ?', [numberHash]);
  return rows[0] ? { numberHash, restrictedAt: rows[0].restricted_at as Date, createdBy: String(rows[0].created_by) } : null;
}

/** false: the number was restricted already (its first time stays). */
export async function insertRestriction(db: Db, r: RestrictionRow): Promise<boolean> {
  const [res] = await db.query<ResultSetHeader>('INSERT IGNORE INTO cdr_restrictions (number_hash, restricted_at, created_by) VALUES (?, ?, ?)',
    [r.numberHash, r.restrictedAt, r.createdBy]);
  return res.affectedRows === 1;
}

export async function deleteRestriction(db: Db, numberHash: string): Promise<boolean> {
  const [res] = await db.query<ResultSetHeader>('DELETE FROM cdr_restrictions WHERE number_hash = ?', [numberHash]);
  return res.affectedRows === 1;
}
