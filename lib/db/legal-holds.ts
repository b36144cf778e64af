// Every statement on `legal_holds` and `legal_hold_events`. Neither table is touched by any erasure.
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Db } from './db.js';

export interface HoldRow {
  holdId: string;
  accountSid: string;
  /** Without a leading '+'; null for a hold on all the account's calls, or once lifted. */
  number: string | null;
  numberHash: string | null;
  reference: string;
  until: Date | null;
  createdAt: Date;
  createdBy: string;
  liftedAt: Date | null;
  liftedBy: string | null;
}

export type HoldEvent = 'placed' | 'lifted' | 'disclosed';

const COLUMNS = 'hold_id, account_sid, number, number_hash, reference, until, created_at, created_by, lifted_at, lifted_by';

const toHold = (r: RowDataPacket): HoldRow => ({
  holdId: String(r.hold_id), accountSid: String(r.account_sid), number: r.number === null ? null : String(r.number),
  numberHash: r.number_hash === null ? null : String(r.number_hash), reference: String(r.reference),
  until: r.until as Date | null, createdAt: r.created_at as Date, createdBy: String(r.created_by),
  liftedAt: r.lifted_at as Date | null, liftedBy: r.lifted_by === null ? null : String(r.lifted_by),
});

export async function insertHold(db: Db, h: HoldRow): Promise<void> {
  await db.query(`INSERT INTO legal_holds (${COLUMNS}) VALUES (?)`,
    [[h.holdId, h.accountSid, h.number, h.numberHash, h.reference, h.until, h.createdAt, h.createdBy, h.liftedAt, h.liftedBy]]);
}

export async function getHold(db: Db, holdId: string): Promise<HoldRow | null> {
  const [rows] = await db.query<RowDataPacket[]>(`SELECT ${COLUMNS} FROM legal_holds WHERE hold_id = ?`, [holdId]);
  return rows[0] ? toHold(rows[0]) : null;
}

/** Every hold ever placed on the account, oldest first. */
export async function holdsOf(db: Db, accountSid: string): Promise<HoldRow[]> {
  const [rows] = await db.query<RowDataPacket[]>(`SELECT ${COLUMNS} FROM legal_holds WHERE account_sid = ? ORDER BY created_at, hold_id`, [accountSid]);
  return rows.map(toHold);
}

/** The holds standing at `now`: not lifted, not lapsed. */
export async function activeHolds(db: Db, now: Date): Promise<HoldRow[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT ${COLUMNS} FROM legal_holds WHERE lifted_at IS NULL AND (until IS NULL OR until > ?) ORDER BY created_at, hold_id`, [now]);
  return rows.map(toHold);
}

/** Marks the hold lifted and forgets its number (its keyed hash stays); false when it was already lifted. */
export async function markLifted(db: Db, holdId: string, at: Date, by: string): Promise<boolean> {
  const [r] = await db.query<ResultSetHeader>(
    'UPDATE legal_holds SET lifted_at = ?, lifted_by = ?, number = NULL WHERE hold_id = ? AND lifted_at IS NULL', [at, by, holdId]);
  return r.affectedRows === 1;
}

export async function insertHoldEvent(db: Db, e: {
  holdId: string; event: HoldEvent; at: Date; actor: string; reference: string; rowCount?: number; detail?: Record<string, unknown>;
}): Promise<void> {
  await db.query('INSERT INTO legal_hold_events (hold_id, event, at, actor, reference, row_count, detail) VALUES (?)',
    [[e.holdId, e.event, e.at, e.actor, e.reference, e.rowCount ?? null, e.detail ? JSON.stringify(e.detail) : null]]);
}

export async function holdEvents(db: Db, holdId: string): Promise<RowDataPacket[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    'SELECT event, at, actor, reference, row_count, detail FROM legal_hold_events WHERE hold_id = ? ORDER BY id', [holdId]);
  return rows;
}
