// The rights of the policy, over every store: export (portability), erasure of CDRs (all,
// or one end user's number), of registrations, the CDR opt-out, and account closure.
// Each erasure answers with what it removed and leaves an audit record without personal data.
import type { Writable } from 'node:stream';
import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { numberVariants, type AccountResolver } from '../calls/accounts.js';
import type { CallState } from '../calls/correlate.js';
import { resolutionInputs, type SpoolRow } from '../calls/row.js';
import type { Spool } from '../calls/spool.js';
import { eraseExceptHeld, type CdrMatch } from '../db/cdrs-held.js';
import { LOCKS, withNamedLock } from '../db/locks.js';
import { StoreUnavailableError } from '../errors.js';
import type { Hasher, Logger } from '../log.js';
import type { ErasureKind, Metrics } from '../metrics.js';
import type { BindingStore } from '../register/bindings.js';
import type { AccountChanges } from './account-changes.js';
import { exportCdrs } from './export.js';
import { loadHoldSet } from './holds.js';
import type { PrivacyService, RegistrationView } from './service.js';

export interface PrivacyDeps {
  pool: Pool;
  bindings: BindingStore;
  calls: CallState;
  spool: Spool;
  accounts: AccountResolver;
  changes: AccountChanges;
  /** Drops this instance's cached view of an account at once; other instances hear of it by `changes`. */
  forgetLocally: (accountSid: string) => void;
  metrics: Metrics;
  log: Logger;
  hash: Hasher;
  now?: () => number;
}

export function createPrivacyService(d: PrivacyDeps): PrivacyService {
  const now = d.now ?? Date.now;

  const record = async (kind: ErasureKind | 'opt_out' | 'restriction_lifted', subjectHash: string, counts: Record<string, number | boolean>) => {
    await d.pool.execute('INSERT INTO erasure_audit (kind, subject_hash, counts) VALUES (?, ?, ?)', [kind, subjectHash, JSON.stringify(counts)]);
    if (kind !== 'opt_out' && kind !== 'restriction_lifted') d.metrics.adminErasures.inc({ kind });
    d.log.info({ kind, subject: subjectHash, counts }, 'privacy request carried out');
  };
  const audit = (kind: ErasureKind | 'opt_out', subject: string, counts: Record<string, number | boolean>) => record(kind, d.hash(subject), counts);

  /**
   * Spool and tables together, under the lock the CDR writer takes for each batch; rows a standing
   * legal hold covers stay, and are counted as `held`.
   */
  const eraseCdrRows = async (match: CdrMatch) => {
    const r = await withNamedLock(d.pool, LOCKS.cdrWrite, 30, async (conn) => {
      const held = await loadHoldSet(conn, new Date(now()));
      // A row spooled while MySQL was unreachable names no account yet: resolve it as the
      // writer would, or it would be written after its account's erasure.
      const accountOf = async (row: SpoolRow) => row.accountSid ?? (row.resolve ? (await d.accounts.resolve(row.resolve))?.accountSid ?? null : null);
      let heldSpooled = 0;
      const belongs = async (row: SpoolRow) => {
        if (match.numbers !== null && !match.numbers.includes(row.fromUser ?? '') && !match.numbers.includes(row.toUser ?? '')) return false;
        const sid = match.accountSid === null && held.holds.length === 0 ? null : await accountOf(row);
        if (match.accountSid !== null && sid !== match.accountSid) return false;
        if (held.covers({ accountSid: sid, fromUser: row.fromUser, toUser: row.toUser })) { heldSpooled++; return false; }
        return true;
      };
      const spooled = await d.spool.erase(belongs);
      const rows = await eraseExceptHeld(conn, match, held);
      return { cdrs: rows.cdrs, spooled, held: rows.held + heldSpooled };
    });
    if (!r.locked) throw new StoreUnavailableError('mysql', `the CDR writer held ${LOCKS.cdrWrite} for 30 s; erasure not done, try again`);
    return r.value;
  };

  const changed = async (accountSid: string) => {
    d.forgetLocally(accountSid);
    await d.changes.publish(accountSid);
  };

  return {
    async accountExists(accountSid) {
      const [rows] = await d.pool.execute<RowDataPacket[]>('SELECT 1 FROM accounts WHERE account_sid = ?', [accountSid]);
      return rows.length > 0;
    },

    async exportCdrs(accountSid, q, out: Writable, progress) {
      const rows = await exportCdrs(d.pool, { accountSid, since: q.since, until: q.until, numbers: null }, q.format, out, { progress });
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
      return (await d.bindings.listAccount(accountSid, now())).map((b): RegistrationView => ({
        aor: b.aor, contact: b.contact, source_address: b.sourceAddress, source_port: b.sourcePort, transport: b.transport,
        user_agent: b.userAgent, registered_at: new Date(b.registeredAt).toISOString(), expires_at: new Date(b.expiresAt).toISOString(),
      }));
    },

    async eraseRegistrations(accountSid) {
      const counts = { registrations: await d.bindings.removeAccount(accountSid) };
      await audit('registrations', accountSid, counts);
      return counts;
    },

    async setOptOut(accountSid, disableCdrs) {
      await d.pool.execute('UPDATE accounts SET disable_cdrs = ? WHERE account_sid = ?', [disableCdrs, accountSid]);
      await changed(accountSid);
      await audit('opt_out', accountSid, { disable_cdrs: disableCdrs });
    },

    eraseNumberEverywhere: (numbers) => eraseCdrRows({ accountSid: null, numbers }),
    record,

    async closeAccount(accountSid) {
      // First make the account inert everywhere: no device can register (is_active) and no
      // leg can be recorded (disable_cdrs) while its data is being removed.
      await d.pool.execute('UPDATE accounts SET is_active = 0, disable_cdrs = 1 WHERE account_sid = ?', [accountSid]);
      await changed(accountSid);
      // Legs in flight know their account only by resolution, which needs the account's
      // numbers and realm: find them before those rows go.
      let calls = 0;
      for (const leg of await d.calls.listInFlight(now())) {
        const acct = leg.facts.xAccountSid === accountSid ? { accountSid } : await d.accounts.resolve(resolutionInputs(leg));
        if (acct?.accountSid === accountSid && (await d.calls.discard(leg.callId))) calls++;
      }
      const registrations = await d.bindings.removeAccount(accountSid);
      const { cdrs, spooled, held } = await eraseCdrRows({ accountSid, numbers: null });
      const conn = await d.pool.getConnection();
      const removed: Record<string, number> = {};
      try {
        await conn.beginTransaction();
        for (const table of ['clients', 'phone_numbers', 'accounts', 'cdr_opt_out_history']) {
          const [r] = await conn.query<ResultSetHeader>(`DELETE FROM ${table} WHERE account_sid = ?`, [accountSid]);
          removed[table] = r.affectedRows;
        }
        await conn.commit();
      } catch (err) {
        await conn.rollback();
        throw err;
      } finally {
        conn.release();
      }
      await changed(accountSid);
      const counts = { cdrs, spooled, held, registrations, calls_in_flight: calls, clients: removed.clients!, phone_numbers: removed.phone_numbers!, accounts: removed.accounts! };
      await audit('account', accountSid, counts);
      return counts;
    },
  };
}
