// The rights of the policy, over every store: export (portability), erasure of CDRs (all,
// or one end user's number), of registrations, the CDR opt-out, and account closure.
// Each erasure answers with what it removed and leaves an audit record without personal data.
// Redis is never waited on while a MySQL lock is held: the spool is erased first, then the
// table under the CDR write lock (see eraseCdrRows). Rows a standing legal hold covers stay, in
// the spool and in both tables (cdrs, cdrs_held), and are counted as `held`.
import type { Writable } from 'node:stream';
import type { Pool } from 'mysql2/promise';
import { numberVariants } from '../calls/account-resolver.js';
import { resolutionInputs } from '../calls/row.js';
import { accountExists, deleteAccount, makeInert, setDisableCdrs } from '../db/accounts.js';
import { eraseExceptHeld, type CdrMatch } from '../db/cdrs-held.js';
import { deleteClientsOf } from '../db/clients.js';
import { inTransaction } from '../db/db.js';
import { deleteOptOutHistoryOf, recordErasure } from '../db/erasure-audit.js';
import { LOCKS, withNamedLock } from '../db/locks.js';
import { deleteNumbersOf } from '../db/phone-numbers.js';
import { onStore, StoreUnavailableError } from '../errors.js';
import type { Hasher, Logger } from '../log.js';
import type { ErasureKind, Metrics } from '../metrics.js';
import type { AccountChanges } from './account-changes.js';
import { exportCdrs } from './export.js';
import { loadHoldSet } from './holds.js';
import type { PrivacyService, PrivacyStores, RegistrationView } from './service.js';

export interface PrivacyDeps extends PrivacyStores {
  pool: Pool;
  changes: AccountChanges;
  /** Drops this instance's cached view of an account at once; other instances hear of it by `changes`. */
  forgetLocally: (accountSid: string) => void;
  metrics: Metrics;
  log: Logger;
  hash: Hasher;
  /** ADMIN_REQUEST_TIMEOUT_MS: an export MySQL sends no row for this long ends there (the response is cut). */
  exportStallMs: number;
  now?: () => number;
}

export function createPrivacyService(d: PrivacyDeps): PrivacyService {
  const now = d.now ?? Date.now;
  const mysql = <T>(work: Promise<T>) => onStore('mysql', work);
  const redis = <T>(work: Promise<T>) => onStore('redis', work);

  const record = async (kind: ErasureKind | 'opt_out' | 'restriction_lifted', subjectHash: string, counts: Record<string, number | boolean>) => {
    await mysql(recordErasure(d.pool, kind, subjectHash, counts));
    if (kind !== 'opt_out' && kind !== 'restriction_lifted') d.metrics.adminErasures.inc({ kind });
    d.log.info({ kind, subject: subjectHash, counts }, 'privacy request carried out');
  };
  const audit = (kind: ErasureKind | 'opt_out', subject: string, counts: Record<string, number | boolean>) => record(kind, d.hash(subject), counts);

  /**
   * The spool first (Redis, no MySQL lock held), then the tables under the lock each writer batch
   * holds from reading the spool to trimming it: a writer that read an erased row before it was
   * erased from the spool has inserted it before the lock is ours, so the DELETE takes it too.
   * Placing a hold takes that lock as well, so the holds read under it stand throughout the DELETE.
   */
  const eraseCdrRows = async (match: CdrMatch) => {
    const spoolHolds = await mysql(loadHoldSet(d.pool, new Date(now())));
    let heldSpooled = 0;
    // A row spooled while MySQL was unreachable names no account yet: resolve it as the
    // writer would, or it would be written after its account's erasure.
    const spooled = await redis(d.spool.erase(async (row) => {
      if (match.numbers !== null && !match.numbers.includes(row.fromUser ?? '') && !match.numbers.includes(row.toUser ?? '')) return false;
      const needAccount = match.accountSid !== null || spoolHolds.holds.length > 0;
      const sid = !needAccount ? null : row.accountSid ?? (row.resolve ? (await mysql(d.accounts.resolve(row.resolve)))?.accountSid ?? null : null);
      if (match.accountSid !== null && sid !== match.accountSid) return false;
      if (spoolHolds.covers({ accountSid: sid, fromUser: row.fromUser, toUser: row.toUser })) { heldSpooled++; return false; }
      return true;
    }));
    const r = await mysql(withNamedLock(d.pool, LOCKS.cdrWrite, 30, async (conn) => eraseExceptHeld(conn, match, await loadHoldSet(conn, new Date(now())))));
    if (!r.locked) throw new StoreUnavailableError('mysql', `the CDR writer held ${LOCKS.cdrWrite} for 30 s; erasure not done, try again`);
    return { cdrs: r.value.cdrs, spooled, held: r.value.held + heldSpooled };
  };

  const changed = async (accountSid: string) => {
    d.forgetLocally(accountSid);
    await redis(d.changes.publish(accountSid));
  };

  return {
    accountExists: (accountSid) => mysql(accountExists(d.pool, accountSid)),

    async exportCdrs(accountSid, q, out: Writable, progress) {
      const rows = await mysql(exportCdrs(d.pool, { accountSid, since: q.since, until: q.until, numbers: null }, q.format, out, { progress, stallMs: d.exportStallMs }));
      d.log.info({ subject: d.hash(accountSid), rows, format: q.format }, 'CDR export streamed');
      return rows;
    },

    async eraseCdrs(accountSid) {
      const counts = await eraseCdrRows({ accountSid, numbers: null });
      await audit('cdrs', accountSid, counts);
      return counts;
    },

    async eraseCdrsOfNumber(accountSid, number) {
      const counts = await eraseCdrRows({ accountSid, numbers: numberVariants(number) });
      // Numbers are few enough to brute-force a hash of: the audit names the account only.
      await audit('cdrs_by_number', accountSid, counts);
      return counts;
    },

    async listRegistrations(accountSid) {
      return (await redis(d.bindings.listAccount(accountSid, now()))).map((b): RegistrationView => ({
        aor: b.aor, contact: b.contact, source_address: b.sourceAddress, source_port: b.sourcePort, transport: b.transport,
        user_agent: b.userAgent, registered_at: new Date(b.registeredAt).toISOString(), expires_at: new Date(b.expiresAt).toISOString(),
      }));
    },

    async eraseRegistrations(accountSid) {
      const counts = { registrations: await redis(d.bindings.removeAccount(accountSid)) };
      await audit('registrations', accountSid, counts);
      return counts;
    },

    async setOptOut(accountSid, disableCdrs) {
      await mysql(setDisableCdrs(d.pool, accountSid, disableCdrs));
      await changed(accountSid);
      await audit('opt_out', accountSid, { disable_cdrs: disableCdrs });
    },

    eraseNumberEverywhere: (numbers) => eraseCdrRows({ accountSid: null, numbers }),
    record,

    async closeAccount(accountSid) {
      // First make the account inert everywhere: no device can register and no leg can be
      // recorded while its data is being removed.
      await mysql(makeInert(d.pool, accountSid));
      await changed(accountSid);
      // Legs in flight know their account only by resolution, which needs the account's
      // numbers and realm: find them before those rows go.
      let calls = 0;
      for (const leg of await redis(d.calls.listInFlight(now()))) {
        const acct = leg.facts.xAccountSid === accountSid ? { accountSid } : await mysql(d.accounts.resolve(resolutionInputs(leg)));
        if (acct?.accountSid === accountSid && (await redis(d.calls.discard(leg.callId)))) calls++;
      }
      const registrations = await redis(d.bindings.removeAccount(accountSid));
      const { cdrs, spooled, held } = await eraseCdrRows({ accountSid, numbers: null });
      const removed = await mysql(inTransaction(d.pool, async (conn) => ({
        clients: await deleteClientsOf(conn, accountSid),
        phone_numbers: await deleteNumbersOf(conn, accountSid),
        accounts: await deleteAccount(conn, accountSid),
        history: await deleteOptOutHistoryOf(conn, accountSid),
      })));
      await changed(accountSid);
      const counts = { cdrs, spooled, held, registrations, calls_in_flight: calls, clients: removed.clients, phone_numbers: removed.phone_numbers, accounts: removed.accounts };
      await audit('account', accountSid, counts);
      return counts;
    },
  };
}
