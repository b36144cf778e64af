// Digest credentials from MySQL, cached briefly: a phone re-registering every minute
// should not cost a query each time, and a disabled client must stop working within
// CREDENTIAL_CACHE_MS.
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { StoreUnavailableError } from '../errors.js';
import { withTimeout } from '../timeout.js';

export interface Credential {
  accountSid: string;
  clientSid: string;
  ha1Md5: string;
  ha1Sha256: string;
}

export interface CredentialStore {
  /** null: no active client of that name in an active account with that realm. */
  find(realm: string, username: string): Promise<Credential | null>;
  /** What find() would answer from its cache, without asking MySQL; undefined when it would ask. */
  peek(realm: string, username: string): Credential | null | undefined;
  forget(): void;
}

const MAX_CACHED = 50_000;
const LOOKUP_TIMEOUT_MS = 2000;

export function createCredentialStore(pool: Pool, cacheMs: number, now: () => number = Date.now): CredentialStore {
  const cache = new Map<string, { at: number; value: Credential | null }>();

  async function query(realm: string, username: string): Promise<Credential | null> {
    const [rows] = await pool.execute<RowDataPacket[]>(
      `SELECT c.client_sid, c.account_sid, c.ha1_md5, c.ha1_sha256
         FROM accounts a JOIN clients c ON c.account_sid = a.account_sid
        WHERE a.sip_realm = ? AND c.username = ? AND a.is_active = 1 AND c.is_active = 1`,
      [realm, username],
    );
    const r = rows[0];
    return r ? { accountSid: r.account_sid, clientSid: r.client_sid, ha1Md5: r.ha1_md5, ha1Sha256: r.ha1_sha256 } : null;
  }

  return {
    async find(realm, username) {
      const key = `${realm}\n${username}`;
      const hit = cache.get(key);
      if (hit && now() - hit.at < cacheMs) return hit.value;
      // A stuck pool must end in a 503 the device can act on, not in silence.
      const value = await withTimeout(query(realm, username), LOOKUP_TIMEOUT_MS,
        () => new StoreUnavailableError('mysql', `credential lookup took over ${LOOKUP_TIMEOUT_MS} ms`));
      if (cacheMs > 0) {
        cache.delete(key);
        // Map keeps insertion order, so the first key is the oldest entry.
        if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
        cache.set(key, { at: now(), value });
      }
      return value;
    },
    peek(realm, username) {
      const hit = cache.get(`${realm}\n${username}`);
      return hit && now() - hit.at < cacheMs ? hit.value : undefined;
    },
    forget() {
      cache.clear();
    },
  };
}
