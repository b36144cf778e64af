// Provisioning queries for accounts, SIP clients and numbers, bound to one pool.
import { randomUUID } from 'node:crypto';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { computeHa1 } from '../register/digest.js';

export interface AccountQueries {
  /** The account owning `realm`, created if missing; `disableCdrs` undefined leaves an existing account's opt-out alone. */
  ensureAccount(o: { realm: string; name?: string; accountSid?: string; disableCdrs?: boolean }): Promise<{ accountSid: string; created: boolean }>;
  /** Creates or replaces the client's digests; the password itself is not kept. */
  setClient(o: { accountSid: string; realm: string; username: string; password: string }): Promise<{ clientSid: string }>;
  addNumber(accountSid: string, number: string): Promise<void>;
}

export function createAccountQueries(pool: Pool): AccountQueries {
  return {
    async ensureAccount({ realm, name, accountSid, disableCdrs }) {
      const [rows] = await pool.execute<RowDataPacket[]>('SELECT account_sid FROM accounts WHERE sip_realm = ?', [realm]);
      if (rows[0]) {
        if (disableCdrs !== undefined) await pool.execute('UPDATE accounts SET disable_cdrs = ? WHERE account_sid = ?', [disableCdrs, rows[0].account_sid]);
        return { accountSid: rows[0].account_sid as string, created: false };
      }
      const sid = accountSid ?? randomUUID();
      await pool.execute('INSERT INTO accounts (account_sid, name, sip_realm, disable_cdrs) VALUES (?, ?, ?, ?)',
        [sid, name ?? realm, realm, disableCdrs ?? false]);
      return { accountSid: sid, created: true };
    },
    async setClient({ accountSid, realm, username, password }) {
      const clientSid = randomUUID();
      await pool.execute(
        `INSERT INTO clients (client_sid, account_sid, username, ha1_md5, ha1_sha256, is_active) VALUES (?, ?, ?, ?, ?, 1)
         ON DUPLICATE KEY UPDATE ha1_md5 = VALUES(ha1_md5), ha1_sha256 = VALUES(ha1_sha256), is_active = 1`,
        [clientSid, accountSid, username, computeHa1('MD5', username, realm, password), computeHa1('SHA-256', username, realm, password)],
      );
      const [rows] = await pool.execute<RowDataPacket[]>('SELECT client_sid FROM clients WHERE account_sid = ? AND username = ?', [accountSid, username]);
      return { clientSid: rows[0].client_sid as string };
    },
    async addNumber(accountSid, number) {
      await pool.execute('INSERT INTO phone_numbers (number, account_sid) VALUES (?, ?) ON DUPLICATE KEY UPDATE account_sid = VALUES(account_sid)', [number, accountSid]);
    },
  };
}
