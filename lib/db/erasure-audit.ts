// Every statement on `erasure_audit` and `cdr_opt_out_history` (the records the privacy rights leave).
import type { ResultSetHeader } from 'mysql2/promise';
import type { Db } from './db.js';

/** `subjectHash`: a keyed hash, never the account or number itself. */
export async function recordErasure(db: Db, kind: string, subjectHash: string, counts: Record<string, number | boolean>): Promise<void> {
  await db.execute('INSERT INTO erasure_audit (kind, subject_hash, counts) VALUES (?, ?, ?)', [kind, subjectHash, JSON.stringify(counts)]);
}

export async function deleteOptOutHistoryOf(db: Db, accountSid: string): Promise<number> {
  const [r] = await db.execute<ResultSetHeader>('DELETE FROM cdr_opt_out_history WHERE account_sid = ?', [accountSid]);
  return r.affectedRows;
}
