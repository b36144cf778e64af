// The rights of the policy, over every store: export (portability), erasure of CDRs (all,
// or one end user's number), of registrations, the CDR opt-out, and account closure.
// Each erasure answers with what it removed and leaves an audit record without personal data.
import type { Writable } from 'node:stream';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { numberVariants, type AccountResolver } from '../calls/accounts.js';
import type { CallState } from '../calls/correlate.js';
import { resolutionInputs, type SpoolRow } from '../calls/row.js';
import type { Spool } from '../calls/spool.js';
import { LOCKS, withNamedLock } from '../db/locks.js';
import { StoreUnavailableError } from '../errors.js';
import type { Hasher, Logger } from '../log.js';
import type { ErasureKind, Metrics } from '../metrics.js';
import type { BindingStore } from '../register/bindings.js';
import type { AccountChanges } from './account-changes.js';
import { exportCdrs } from './export.js';
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

const DELETE_BATCH = 5000;

export function createPrivacyService(d: PrivacyDeps): PrivacyService {
  const now = d.now ?? Date.now;

  const audit = async (kind: ErasureKind | 'opt_out', subject: string, counts: Record<string, number | boolean>) => {
    await d.pool.execute('INSERT INTO erasure_audit (kind, subject_hash, counts) VALUES (?, ?, ?)', [kind, d.hash(subject), JSON.stringify(counts)]);
    if (kind !== 'opt_out') d.metrics.adminErasures.inc({ kind });
    d.log.info({ kind, subject: d.hash(subject), counts }, 'privacy request carried out');
  };

  /** Deletes in small batches so no statement holds many row locks for long. */
  const deleteAll = async (conn: PoolConnection, sql: string, params: unknown[]) => {
    let total = 0;
    for (;;) {
      const [r] = await conn.query<ResultSetHeader>(`${sql} LIMIT ${DELETE_BATCH}`, params);
      total += r.affectedRows;
      if (r.affectedRows < DELETE_BATCH) return total;
    }
  };

  /** Spool and table together, under the lock the CDR writer takes for each batch. */
  const eraseCdrRows = async (accountSid: string, numbers: string[] | null) => {
    // A row spooled while MySQL was unreachable names no account yet: resolve it as the
    // writer would, or it would be written after its account's erasure.
    const belongs = async (row: SpoolRow) => {
      const sid = row.accountSid ?? (row.resolve ? (await d.accounts.resolve(row.resolve))?.accountSid : null);
      if (sid !== accountSid) return false;
      return numbers === null || numbers.includes(row.fromUser ?? '') || numbers.includes(row.toUser ?? '');
    };
    const r = await withNamedLock(d.pool, LOCKS.cdrWrite, 30, async (conn) => {
      const spooled = await d.spool.erase(belongs);
      const cdrs = numbers === null
        ? await deleteAll(conn, 'DELETE FROM cdrs WHERE account_sid = ?', [accountSid])
        : await deleteAll(conn, 'DELETE FROM cdrs WHERE account_sid = ? AND (from_user IN (?) OR to_user IN (?))', [accountSid, numbers, numbers]);
      return { cdrs, spooled };
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

    async exportCdrs(accountSid, q, out: Writable) {
      const rows = await exportCdrs(d.pool, accountSid, q, out);
      d.log.info({ subject: d.hash(accountSid), rows, format: q.format }, 'CDR export streamed');
    },

    async eraseCdrs(accountSid) {
      const counts = await eraseCdrRows(accountSid, null);
      await audit('cdrs', accountSid, counts);
      return counts;
    },

    async eraseCdrsOfNumber(accountSid, number) {
      const counts = await eraseCdrRows(accountSid, numberVariants(number));
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
      const { cdrs, spooled } = await eraseCdrRows(accountSid, null);
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
      const counts = { cdrs, spooled, registrations, calls_in_flight: calls, clients: removed.clients!, phone_numbers: removed.phone_numbers!, accounts: removed.accounts! };
      await audit('account', accountSid, counts);
      return counts;
    },
  };
}
