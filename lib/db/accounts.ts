// Every statement on `accounts`.
import { randomUUID } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Db } from './db.js';

export interface AccountFlags { accountSid: string; disableCdrs: boolean }

const flags = (rows: RowDataPacket[]): AccountFlags | null =>
  rows[0] ? { accountSid: String(rows[0].account_sid), disableCdrs: Boolean(Number(rows[0].disable_cdrs)) } : null;

export async function accountExists(db: Db, accountSid: string): Promise<boolean> {
  const [rows] = await db.execute<RowDataPacket[]>('SELECT 1 FROM accounts WHERE account_sid = ?', [accountSid]);
  return rows.length > 0;
}

export async function accountById(db: Db, accountSid: string): Promise<AccountFlags | null> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT account_sid, disable_cdrs FROM accounts WHERE account_sid = ?', [accountSid]);
  return flags(rows);
}

export async function accountByRealm(db: Db, realm: string): Promise<AccountFlags | null> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT account_sid, disable_cdrs FROM accounts WHERE sip_realm = ?', [realm]);
  return flags(rows);
}

export async function setDisableCdrs(db: Db, accountSid: string, disableCdrs: boolean): Promise<void> {
  await db.execute('UPDATE accounts SET disable_cdrs = ? WHERE account_sid = ?', [disableCdrs, accountSid]);
}

/** No device can register (is_active) and no leg be recorded (disable_cdrs) from now on. */
export async function makeInert(db: Db, accountSid: string): Promise<void> {
  await db.execute('UPDATE accounts SET is_active = 0, disable_cdrs = 1 WHERE account_sid = ?', [accountSid]);
}

export async function deleteAccount(db: Db, accountSid: string): Promise<number> {
  const [r] = await db.execute<ResultSetHeader>('DELETE FROM accounts WHERE account_sid = ?', [accountSid]);
  return r.affectedRows;
}

/** The account owning `realm`, created if missing; `disableCdrs` undefined leaves an existing account's opt-out alone. */
export async function ensureAccount(db: Db, o: { realm: string; name?: string; accountSid?: string; disableCdrs?: boolean }): Promise<{ accountSid: string; created: boolean }> {
  const found = await accountByRealm(db, o.realm);
  if (found) {
    if (o.disableCdrs !== undefined) await setDisableCdrs(db, found.accountSid, o.disableCdrs);
    return { accountSid: found.accountSid, created: false };
  }
  const sid = o.accountSid ?? randomUUID();
  await db.execute('INSERT INTO accounts (account_sid, name, sip_realm, disable_cdrs) VALUES (?, ?, ?, ?)',
    [sid, o.name ?? o.realm, o.realm, o.disableCdrs ?? false]);
  return { accountSid: sid, created: true };
}
