// Every statement on `erasure_audit` and `cdr_opt_out_history` (the records the privacy rights leave).
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Db } from './db.js';

/** `subjectHash`: a keyed hash, never the account or number itself. */
export async function recordErasure(db: Db, kind: string, subjectHash: string, counts: Record<string, number | boolean>): Promise<void> {
  await db.execute('INSERT INTO erasure_audit (kind, subject_hash, counts) VALUES (?, ?, ?)', [kind, subjectHash, JSON.stringify(counts)]);
}

export async function deleteOptOutHistoryOf(db: Db, accountSid: string): Promise<number> {
  const [r] = await db.execute<ResultSetHeader>('DELETE FROM cdr_opt_out_history WHERE account_sid = ?', [accountSid]);
  return r.affectedRows;
}

export interface OptOutChange { accountSid: string; disableCdrs: boolean; changedAt: Date }

/** The opt-out history of every account that ever opted out, by account, oldest first. */
export async function optOutHistory(db: Db): Promise<OptOutChange[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT account_sid, disable_cdrs, changed_at FROM cdr_opt_out_history
      WHERE account_sid IN (SELECT account_sid FROM cdr_opt_out_history WHERE disable_cdrs = 1)
      ORDER BY account_sid, changed_at, id`);
  return rows.map((r) => ({ accountSid: String(r.account_sid), disableCdrs: Number(r.disable_cdrs) === 1, changedAt: r.changed_at as Date }));
}
