// An end user's objection ("Object to the processing of your personal information … Request to have
// your personal information … restricted"): no CDR row from or to a restricted number, on any account.
//
// The list holds a keyed hash (PRIVACY_HASH_KEY) of each number, so it is no register of objectors.
// Each instance keeps the hashes in memory: the call flow checks a leg's caller and callee when it
// ends; the CDR writer re-reads the list under the CDR write lock before each slice of batches, so a
// row spooled by an instance that had not heard yet is dropped all the same. A change reaches every
// instance over the account-changes channel (RESTRICTIONS_CHANGED), and a periodic re-read covers a
// message lost while Redis was away.
import type { Pool } from 'mysql2/promise';
import type { Db } from '../db/db.js';
import {
  allRestrictions, deleteRestriction, getRestriction, insertRestriction, restrictionsVersion,
} from '../db/restrictions.js';
import { numberVariants } from '../calls/account-resolver.js';
import { createHasher, type Logger } from '../log.js';
import { bareNumber } from './holds.js';

/** The message on the account-changes channel that means "re-read the restriction list" (never an account_sid). */
export const RESTRICTIONS_CHANGED = '*restrictions';
export const RESTRICTION_SYNC_MS = 5000;

export interface RestrictionList {
  /** false when PRIVACY_HASH_KEY is not set here: nothing can be restricted or matched. */
  readonly configured: boolean;
  /** This instance's view: a call from `fromUser` or to `toUser` may not be recorded. */
  restricted(fromUser: string | null, toUser: string | null): boolean;
  /** Re-reads the list (on `db`, e.g. a connection holding the CDR write lock) if it changed. */
  sync(db?: Db): Promise<void>;
  /** The keyed hash a number is listed under. */
  hashOf(number: string): string;
}

export function createRestrictionList(d: { pool: Pool; hashKey: string | null; log: Logger }): RestrictionList {
  const hmac = d.hashKey === null ? null : createHasher(d.hashKey);
  let hashes = new Set<string>();
  let version = '';
  let warned = false;
  const isIn = (user: string | null) => user !== null && user !== '' && hashes.has(hmac!(bareNumber(user)));
  return {
    configured: hmac !== null,
    restricted: (from, to) => hashes.size > 0 && hmac !== null && (isIn(from) || isIn(to)),
    async sync(db = d.pool) {
      const v = await restrictionsVersion(db);
      if (v === version) return;
      const rows = await allRestrictions(db);
      hashes = new Set(rows.map((r) => r.numberHash));
      version = v;
      if (hmac === null && rows.length > 0 && !warned) {
        warned = true;
        d.log.error({ restrictions: rows.length }, 'restricted numbers exist but PRIVACY_HASH_KEY is not set on this instance: they cannot be applied here');
      }
    },
    hashOf(number) {
      if (hmac === null) throw new Error('PRIVACY_HASH_KEY is not set');
      return hmac(bareNumber(number));
    },
  };
}

export interface ErasedCounts { cdrs: number; spooled: number; held: number }

export interface Restrictions {
  readonly configured: boolean;
  get(number: string): Promise<{ restricted_at: string } | null>;
  /** Lists the number, tells every instance, then erases its rows but held ones. */
  add(number: string, actor: string): Promise<{ restricted_at: string; created: boolean; erased: ErasedCounts }>;
  /** false: the number was not restricted. */
  remove(number: string): Promise<boolean>;
}

export function createRestrictions(d: {
  pool: Pool;
  list: RestrictionList;
  /** Tells every instance (this one included) to re-read the list. */
  publish: () => Promise<void>;
  /** Erases the calls from or to any of `numbers` on every account, but held ones. */
  erase: (numbers: string[]) => Promise<ErasedCounts>;
  audit: (kind: 'restriction' | 'restriction_lifted', subjectHash: string, counts: Record<string, number>) => Promise<void>;
  log: Logger;
  now?: () => number;
}): Restrictions {
  const now = d.now ?? Date.now;
  const changed = async () => {
    await d.list.sync();
    await d.publish();
  };
  return {
    get configured() { return d.list.configured; },
    async get(number) {
      const r = await getRestriction(d.pool, d.list.hashOf(number));
      return r && { restricted_at: r.restrictedAt.toISOString() };
    },
    async add(number, actor) {
      const numberHash = d.list.hashOf(number);
      const created = await insertRestriction(d.pool, { numberHash, restrictedAt: new Date(now()), createdBy: actor });
      await changed();
      // After the list is in place: whatever is erased now cannot be written again.
      const erased = await d.erase(numberVariants(number));
      await d.audit('restriction', numberHash, { ...erased });
      const r = await getRestriction(d.pool, numberHash);
      return { restricted_at: r!.restrictedAt.toISOString(), created, erased };
    },
    async remove(number) {
      const numberHash = d.list.hashOf(number);
      const removed = await deleteRestriction(d.pool, numberHash);
      if (removed) {
        await changed();
        await d.audit('restriction_lifted', numberHash, {});
      }
      return removed;
    },
  };
}
