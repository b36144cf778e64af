// Which account owns a SIP domain, and whether it authenticates its users through a registration hook.
// Read by the REGISTER flow (hook or clients table) and the location lookup (the account of an AOR),
// cached like the credentials (CREDENTIAL_CACHE_MS) and dropped at once on an account change.
import type { Pool } from 'mysql2/promise';
import { createCache } from '../cache.js';
import { realmOf, type RealmRow } from '../db/accounts.js';
import { onStore, StoreUnavailableError } from '../errors.js';
import { withTimeout } from '../timeout.js';

export type Realm = RealmRow;
export type RegistrationHook = NonNullable<RealmRow['hook']>;

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
  const cache = createCache<Realm | null>({ max: MAX_CACHED, ttlMs: cacheMs, now });
  return {
    async find(realm) {
      const hit = cache.get(realm);
      if (hit !== undefined) return hit;
      // A stuck pool must end in a 503 the caller can act on, not in silence.
      const value = await withTimeout(onStore('mysql', realmOf(pool, realm)), LOOKUP_TIMEOUT_MS,
        () => new StoreUnavailableError('mysql', `account lookup took over ${LOOKUP_TIMEOUT_MS} ms`));
      cache.set(realm, value);
      return value;
    },
    peek: (realm) => cache.get(realm),
    forget: () => cache.clear(),
  };
}
