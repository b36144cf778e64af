// Every statement on `phone_numbers`.
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { AccountFlags } from './accounts.js';
import type { Db } from './db.js';

/** The account owning the first of `numbers` (in that order) that is known; null when none is. */
export async function accountByNumber(db: Db, numbers: readonly string[]): Promise<AccountFlags | null> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT n.number, a.account_sid, a.disable_cdrs FROM phone_numbers n JOIN accounts a ON a.account_sid = n.account_sid
      WHERE n.number IN (?)`, [numbers]);
  rows.sort((x, y) => numbers.indexOf(String(x.number)) - numbers.indexOf(String(y.number)));
  const r = rows[0];
  return r ? { accountSid: String(r.account_sid), disableCdrs: Boolean(Number(r.disable_cdrs)) } : null;
}

export async function addNumber(db: Db, accountSid: string, number: string): Promise<void> {
  await db.execute('INSERT INTO phone_numbers (number, account_sid) VALUES (?, ?) ON DUPLICATE KEY UPDATE account_sid = VALUES(account_sid)', [number, accountSid]);
}

export async function deleteNumbersOf(db: Db, accountSid: string): Promise<number> {
  const [r] = await db.execute<ResultSetHeader>('DELETE FROM phone_numbers WHERE account_sid = ?', [accountSid]);
  return r.affectedRows;
}
