// Which account owns a SIP domain, and whether it authenticates its users through a registration hook.
// Read by the REGISTER flow (hook or clients table) and the location lookup (the account of an AOR),
// cached like the credentials (CREDENTIAL_CACHE_MS) and dropped at once on an account change.
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { StoreUnavailableError } from '../errors.js';
import { withTimeout } from '../timeout.js';

export interface RegistrationHook {
  url: string;
  method: 'POST' | 'GET';
  /** HTTP Basic credentials, when both are set. */
  username: string | null;
  password: string | null;
  /** Key of the Jambonz-Signature HMAC; null: requests go unsigned. */
  secret: string | null;
}

export interface Realm {
  accountSid: string;
  active: boolean;
  /** null: the clients table authenticates this account's users. */
  hook: RegistrationHook | null;
}

export interface RealmStore {
  /** null: no account has this sip_realm. */
  find(realm: string): Promise<Realm | null>;
  /** What find() would answer from its cache, without asking MySQL; undefined when it would ask. */
  peek(realm: string): Realm | null | undefined;
  forget(): void;
}

const MAX_CACHED = 10_000;
const LOOKUP_TIMEOUT_MS = 2000;

export function createRealmStore(pool: Pool, cacheMs: number, now: () => number = Date.now): RealmStore {
  const cache = new Map<string, { at: number; value: Realm | null }>();
  let generation = 0;

  async function query(realm: string): Promise<Realm | null> {
    const [rows] = await pool.execute<RowDataPacket[]>(
      `SELECT account_sid, is_active, registration_hook_url, registration_hook_method,
              registration_hook_username, registration_hook_password, webhook_secret
         FROM accounts WHERE sip_realm = ?`,
      [realm],
    );
    const r = rows[0];
    if (!r) return null;
    const url = r.registration_hook_url as string | null;
    return {
      accountSid: r.account_sid as string,
      active: Number(r.is_active) === 1,
      hook: url ? {
        url,
        method: r.registration_hook_method === 'GET' ? 'GET' : 'POST',
        username: (r.registration_hook_username as string | null) || null,
        password: (r.registration_hook_password as string | null) || null,
        secret: (r.webhook_secret as string | null) || null,
      } : null,
    };
  }

  const peek = (realm: string) => {
    const hit = cache.get(realm);
    return hit && now() - hit.at < cacheMs ? hit.value : undefined;
  };

  return {
    async find(realm) {
      const hit = peek(realm);
      if (hit !== undefined) return hit;
      const gen = generation;
      // A stuck pool must end in a 503 the caller can act on, not in silence.
      const value = await withTimeout(query(realm), LOOKUP_TIMEOUT_MS,
        () => new StoreUnavailableError('mysql', `account lookup took over ${LOOKUP_TIMEOUT_MS} ms`));
      // A lookup that began before forget() must not put back what it read.
      if (cacheMs > 0 && gen === generation) {
        cache.delete(realm);
        if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
        cache.set(realm, { at: now(), value });
      }
      return value;
    },
    peek,
    forget() {
      generation++;
      cache.clear();
    },
  };
}
