// Every statement on `clients` (SIP digest credentials; never a password).
import { randomUUID } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { computeHa1 } from '../register/digest.js';
import type { Db } from './db.js';

export interface Credential { accountSid: string; clientSid: string; ha1Md5: string; ha1Sha256: string }

/** The active client `username` of the active account whose realm is `realm`; null when there is none. */
export async function findCredential(db: Db, realm: string, username: string): Promise<Credential | null> {
  const [rows] = await db.execute<RowDataPacket[]>(
    `SELECT c.client_sid, c.account_sid, c.ha1_md5, c.ha1_sha256
       FROM accounts a JOIN clients c ON c.account_sid = a.account_sid
      WHERE a.sip_realm = ? AND c.username = ? AND a.is_active = 1 AND c.is_active = 1`,
    [realm, username],
  );
  const r = rows[0];
  return r ? { accountSid: r.account_sid, clientSid: r.client_sid, ha1Md5: r.ha1_md5, ha1Sha256: r.ha1_sha256 } : null;
}

/** Creates or replaces the client's digests; the password itself is not kept. */
export async function setClient(db: Db, o: { accountSid: string; realm: string; username: string; password: string }): Promise<{ clientSid: string }> {
  const { accountSid, realm, username, password } = o;
  await db.execute(
    `INSERT INTO clients (client_sid, account_sid, username, ha1_md5, ha1_sha256, is_active) VALUES (?, ?, ?, ?, ?, 1)
     ON DUPLICATE KEY UPDATE ha1_md5 = VALUES(ha1_md5), ha1_sha256 = VALUES(ha1_sha256), is_active = 1`,
    [randomUUID(), accountSid, username, computeHa1('MD5', username, realm, password), computeHa1('SHA-256', username, realm, password)],
  );
  const [rows] = await db.execute<RowDataPacket[]>('SELECT client_sid FROM clients WHERE account_sid = ? AND username = ?', [accountSid, username]);
  return { clientSid: rows[0]!.client_sid as string };
}

export async function deleteClientsOf(db: Db, accountSid: string): Promise<number> {
  const [r] = await db.execute<ResultSetHeader>('DELETE FROM clients WHERE account_sid = ?', [accountSid]);
  return r.affectedRows;
}
