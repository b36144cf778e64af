// Which account a call leg belongs to, and whether that account opted out of CDRs.
//
// Resolution, first match wins:
//   1. X-Account-Sid of an INVITE our application sent (never trusted from the network)
//   2. the Request-URI user in phone_numbers (as dialled, then without / with a leading '+')
//   3. the Request-URI host equal to an account's sip_realm
//   4. the From host equal to an account's sip_realm
//
// Lookups are cached in process for CDR_ACCOUNT_CACHE_MS (at most 5 s), so a change made directly in
// the database (an opt-out, a number moving) is honoured within that time without a restart.
// invalidate() drops entries at once (for a pub/sub notification); a lookup already running when
// invalidate() is called does not repopulate the cache with what it read.
import type { Pool } from 'mysql2/promise';
import { createCache } from '../cache.js';
import { accountById, accountByRealm, type AccountFlags } from '../db/accounts.js';
import { accountByNumber } from '../db/phone-numbers.js';

export interface ResolutionInputs {
  xAccountSid: string | null;
  ruriUser: string | null;
  ruriHost: string | null;
  fromHost: string | null;
}

export type ResolutionRule = 'x-account-sid' | 'phone-number' | 'request-uri-realm' | 'from-realm';
export interface ResolvedAccount { accountSid: string; disableCdrs: boolean; rule: ResolutionRule }

export interface AccountResolver {
  /** null: no account matches. Rejects when MySQL cannot be asked. */
  resolve(inputs: ResolutionInputs): Promise<ResolvedAccount | null>;
  /** Forget what is cached about one account (its opt-out flag, the numbers and realm pointing at it), or everything. */
  invalidate(accountSid?: string): void;
}

type AccountRow = AccountFlags;

const MAX_ENTRIES = 50_000;

export function createAccountResolver(pool: Pool, o: { cacheMs: number; now: () => number }): AccountResolver {
  // Keys: 'a:<sid>' the account itself, 'n:<number>' and 'r:<realm>' the account they point to.
  const cache = createCache<AccountRow | null>({ max: MAX_ENTRIES, ttlMs: o.cacheMs, now: o.now });
  const inflight = new Map<string, Promise<AccountRow | null>>();
  let generation = 0;

  const remember = (key: string, value: AccountRow | null, gen: number) => {
    if (gen !== generation) return;
    cache.set(key, value);
    if (value) cache.set(`a:${value.accountSid}`, value);
  };

  /** One query per key at a time: concurrent legs of one number share it. */
  const lookup = (key: string, query: () => Promise<AccountRow | null>): Promise<AccountRow | null> => {
    const hit = cache.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    const running = inflight.get(key);
    if (running) return running;
    const gen = generation;
    const p = query().then((value) => {
      remember(key, value, gen);
      return value;
    }).finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  };

  const byAccount = (sid: string) => lookup(`a:${sid}`, () => accountById(pool, sid));
  // As dialled first, then the variants in order.
  const byNumber = (user: string) => lookup(`n:${user}`, () => accountByNumber(pool, numberVariants(user)));
  const byRealm = (host: string) => lookup(`r:${host}`, () => accountByRealm(pool, host));

  return {
    async resolve(i) {
      const steps: [ResolutionRule, string | null, (k: string) => Promise<AccountRow | null>][] = [
        ['x-account-sid', i.xAccountSid, byAccount],
        ['phone-number', i.ruriUser, byNumber],
        ['request-uri-realm', i.ruriHost?.toLowerCase() ?? null, byRealm],
        ['from-realm', i.fromHost?.toLowerCase() ?? null, byRealm],
      ];
      for (const [rule, key, find] of steps) {
        if (!key) continue;
        const found = await find(key);
        if (!found) continue;
        // The opt-out flag is read through its own cache entry, so it is never older than cacheMs.
        const account = await byAccount(found.accountSid);
        if (account) return { accountSid: account.accountSid, disableCdrs: account.disableCdrs, rule };
      }
      return null;
    },

    invalidate(accountSid) {
      generation++;
      if (accountSid === undefined) return cache.clear();
      cache.clear((key, value) => value?.accountSid === accountSid || key === `a:${accountSid}`);
    },
  };
}

/** A number as dialled, then without or with a leading '+': stores may hold either. */
export function numberVariants(n: string): string[] {
  return [...new Set([n, n.replace(/^\+/, ''), n.startsWith('+') ? n : `+${n}`])];
}
