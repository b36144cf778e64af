// Digest credentials from MySQL, cached briefly: a phone re-registering every minute
// should not cost a query each time, and a disabled client must stop working within
// CREDENTIAL_CACHE_MS.
import type { Pool } from 'mysql2/promise';
import { createCache } from '../cache.js';
import { findCredential, type Credential } from '../db/clients.js';
import { onStore, StoreUnavailableError } from '../errors.js';
import { withTimeout } from '../timeout.js';

export type { Credential };

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
  const cache = createCache<Credential | null>({ max: MAX_CACHED, ttlMs: cacheMs, now });
  const key = (realm: string, username: string) => `${realm}\n${username}`;
  return {
    async find(realm, username) {
      const hit = cache.get(key(realm, username));
      if (hit !== undefined) return hit;
      // A stuck pool must end in a 503 the device can act on, not in silence.
      const value = await withTimeout(onStore('mysql', findCredential(pool, realm, username)), LOOKUP_TIMEOUT_MS,
        () => new StoreUnavailableError('mysql', `credential lookup took over ${LOOKUP_TIMEOUT_MS} ms`));
      cache.set(key(realm, username), value);
      return value;
    },
    peek: (realm, username) => cache.get(key(realm, username)),
    forget: () => cache.clear(),
  };
}
