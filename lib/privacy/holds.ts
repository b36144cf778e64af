// Legal holds: "we may be required to share your information in response to a regulation, court
// order or subpoena". While a hold stands, the CDRs it covers (an account's, or one end user's calls
// on it) survive the retention purge, erasure and account closure; lifting it lets the next purge
// take those past retention. Placing, lifting and every disclosure are recorded in legal_hold_events.
import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { Pool } from 'mysql2/promise';
import type { HeldCondition } from '../db/cdrs-held.js';
import type { Db } from '../db/db.js';
import {
  activeHolds, getHold, holdsOf, insertHold, insertHoldEvent, markLifted, type HoldRow,
} from '../db/legal-holds.js';
import { LOCKS, withNamedLock } from '../db/locks.js';
import { StoreUnavailableError } from '../errors.js';
import type { Hasher, Logger } from '../log.js';
import { exportCdrs } from './export.js';
import type { ExportFormat } from './service.js';

/** The standing holds, as a SQL condition on CDR rows and as a test of one row. */
export interface HoldSet extends HeldCondition {
  readonly holds: readonly HoldRow[];
  covers(row: { accountSid: string | null; fromUser: string | null; toUser: string | null }): boolean;
}

/** A number as holds store it: without a leading '+', which stores may or may not hold. */
export const bareNumber = (n: string) => n.replace(/^\+/, '');
const spellings = (bare: string) => [bare, `+${bare}`];

export function holdSet(holds: readonly HoldRow[]): HoldSet {
  // Per account: null = every call of it; else the numbers whose calls are held.
  const byAccount = new Map<string, Set<string> | null>();
  for (const h of holds) {
    const cur = byAccount.get(h.accountSid);
    if (h.number === null || cur === null) byAccount.set(h.accountSid, null);
    else byAccount.set(h.accountSid, new Set([...(cur ?? []), ...spellings(h.number)]));
  }
  const terms: string[] = [];
  const params: unknown[] = [];
  for (const [sid, numbers] of byAccount) {
    if (numbers === null) {
      terms.push('account_sid = ?');
      params.push(sid);
    } else {
      terms.push('(account_sid = ? AND (from_user IN (?) OR to_user IN (?)))');
      params.push(sid, [...numbers], [...numbers]);
    }
  }
  return {
    holds,
    // COALESCE: a NULL from_user must make the condition FALSE, not NULL, or `NOT held` would keep the row.
    where: terms.length ? `COALESCE((${terms.join(' OR ')}), FALSE)` : 'FALSE',
    params,
    covers(row) {
      if (row.accountSid === null || !byAccount.has(row.accountSid)) return false;
      const numbers = byAccount.get(row.accountSid);
      return numbers === null || numbers!.has(row.fromUser ?? '') || numbers!.has(row.toUser ?? '');
    },
  };
}

export async function loadHoldSet(db: Db, now: Date): Promise<HoldSet> {
  return holdSet(await activeHolds(db, now));
}

export interface HoldView {
  hold_id: string;
  account_sid: string;
  reference: string;
  number: string | null;
  until: string | null;
  active: boolean;
  created_at: string;
  created_by: string;
  lifted_at: string | null;
  lifted_by: string | null;
}

export interface Holds {
  /** Places a hold; the same reference and number on a standing hold of the account returns that one. */
  place(accountSid: string, o: { reference: string; number: string | null; until: Date | null }, actor: string): Promise<{ hold: HoldView; created: boolean }>;
  list(accountSid: string): Promise<HoldView[]>;
  get(holdId: string): Promise<HoldRow | null>;
  isActive(h: HoldRow): boolean;
  view(h: HoldRow): HoldView;
  /** null: no such hold. */
  lift(holdId: string, actor: string): Promise<HoldView | null>;
  /** Streams the CDRs the hold covers (both tables) and records the disclosure with its row count. */
  disclose(h: HoldRow, q: { since: Date | null; until: Date | null; format: ExportFormat }, out: Writable, actor: string,
    progress?: (rows: number) => void): Promise<number>;
}

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

export function createHolds(d: { pool: Pool; hash: Hasher; log: Logger; now?: () => number; exportStallMs: number }): Holds {
  const now = () => new Date((d.now ?? Date.now)());
  const isActive = (h: HoldRow) => h.liftedAt === null && (h.until === null || h.until.getTime() > now().getTime());
  const view = (h: HoldRow): HoldView => ({
    hold_id: h.holdId, account_sid: h.accountSid, reference: h.reference, number: h.number, until: iso(h.until),
    active: isActive(h), created_at: h.createdAt.toISOString(), created_by: h.createdBy, lifted_at: iso(h.liftedAt), lifted_by: h.liftedBy,
  });

  return {
    async place(accountSid, o, actor) {
      const number = o.number === null ? null : bareNumber(o.number);
      // Under the purge's lock and the erasures' lock: once this returns, no purge or erasure that
      // read the holds before this one existed is still deleting.
      const r = await withNamedLock(d.pool, LOCKS.retention, 30, () => withNamedLock(d.pool, LOCKS.cdrWrite, 30, async (conn) => {
        const same = (await holdsOf(conn, accountSid)).find((h) => isActive(h) && h.reference === o.reference && h.number === number);
        if (same) return { hold: same, created: false };
        const hold: HoldRow = {
          holdId: randomUUID(), accountSid, number, numberHash: number === null ? null : d.hash(number), reference: o.reference,
          until: o.until, createdAt: now(), createdBy: actor, liftedAt: null, liftedBy: null,
        };
        await insertHold(conn, hold);
        await insertHoldEvent(conn, {
          holdId: hold.holdId, event: 'placed', at: hold.createdAt, actor, reference: hold.reference,
          detail: { account: d.hash(accountSid), number: hold.numberHash, until: iso(hold.until) },
        });
        return { hold, created: true };
      }));
      if (!r.locked || !r.value.locked) throw new StoreUnavailableError('mysql', 'the retention purge or an erasure held its lock for 30 s; hold not placed, try again');
      const { hold, created } = r.value.value;
      if (created) d.log.info({ hold: hold.holdId, account: d.hash(accountSid), narrowed: number !== null }, 'legal hold placed');
      return { hold: view(hold), created };
    },

    list: async (accountSid) => (await holdsOf(d.pool, accountSid)).map(view),
    get: (holdId) => getHold(d.pool, holdId),
    isActive,
    view,

    async lift(holdId, actor) {
      const h = await getHold(d.pool, holdId);
      if (!h) return null;
      const at = now();
      if (await markLifted(d.pool, holdId, at, actor)) {
        await insertHoldEvent(d.pool, { holdId, event: 'lifted', at, actor, reference: h.reference });
        d.log.info({ hold: holdId }, 'legal hold lifted; rows past retention go at the next purge');
      }
      return view((await getHold(d.pool, holdId))!);
    },

    async disclose(h, q, out, actor, progress) {
      let rows = 0;
      let failure: unknown = null;
      try {
        await exportCdrs(d.pool, {
          accountSid: h.accountSid, since: q.since, until: q.until, numbers: h.number === null ? null : spellings(h.number),
        }, q.format, out, { progress: (n) => { rows = n; progress?.(n); }, end: false, stallMs: d.exportStallMs });
      } catch (err) {
        failure = err;
      }
      // Recorded before the response ends (and also when the stream broke off: what left is what
      // was disclosed), so no one holds a complete disclosure that is not on record.
      try {
        await insertHoldEvent(d.pool, {
          holdId: h.holdId, event: 'disclosed', at: now(), actor, reference: h.reference, rowCount: rows,
          detail: { since: iso(q.since), until: iso(q.until), format: q.format, complete: failure === null },
        });
      } catch (err) {
        out.destroy(err as Error);
        throw failure ?? err;
      }
      d.log.info({ hold: h.holdId, rows, complete: failure === null }, 'legal hold disclosure streamed');
      if (failure !== null) throw failure;
      out.end();
      return rows;
    },
  };
}
