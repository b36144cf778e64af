// The busy store the privacy audit's tests judge, filled by the real daemon (a registered phone,
// answered calls, a call in flight, failed logins, opt-out flips), and the audit as the CLI wires it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { ResultSetHeader } from 'mysql2/promise';
import { createCallState, legKeys } from '../../lib/calls/correlate.js';
import { sqlDateTime } from '../../lib/calls/row.js';
import { createSpool } from '../../lib/calls/spool.js';
import { createHasher } from '../../lib/log.js';
import { AUDIT_CHECKS, type AuditCheck } from '../../lib/metrics.js';
import { runAudit, type AuditReport } from '../../lib/privacy/audit.js';
import { createBindingStore } from '../../lib/register/bindings.js';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, provision, REDIS_URL, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { Device } from '../helpers/ua.js';
import { answeredLeg, CDR_VERBS, leg, rowsOf, tod, waitMetric, waitRows, type Leg } from '../calls/helpers.js';

export const CLI = join(__dirname, '..', '..', 'dist', 'lib', 'cli', 'audit.js');
export const DAY = 86_400_000;
export const DOMAIN = 'audit.example.com';
export const DEVICE_IP = '198.51.100.61';
export const BAD_LOGIN_IP = '198.51.100.99';
export const CALLER_IP = '203.0.113.62';
export const CALLER = '+14155550163';
export const NUMBER = '+15550001163';
export const QUIET_NUMBER = '+15550002163';
export const USER_AGENT = 'Yealink SIP-T46S 66.86.0.15';
export const PLANTED_IP = '192.0.2.77';
export const PLANTED_IP6 = '2001:db8::7:1';
export const SDP = 'v=0\r\ns=-\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=sendrecv\r\n'; // no address in it: only the body check may fire
export const FORBIDDEN = [DEVICE_IP, BAD_LOGIN_IP, CALLER_IP, CALLER, NUMBER, QUIET_NUMBER, PLANTED_IP, PLANTED_IP6, 'alice', '10.9.8.7', 'm=audio', 'v=0'];
export const NOW = Date.now();

export function noValues(t: Test, report: unknown, what = 'the report') {
  const text = JSON.stringify(report);
  t.same(FORBIDDEN.filter((v) => text.includes(v)), [], `${what} names places, never a value`);
}

export interface AuditWorld {
  stores: Stores;
  peer: DrachtioPeer;
  daemon: Daemon;
  /** The account with the phone and the answered call; `quiet` opted out and back in. */
  acme: string;
  quiet: string;
  /** acme's call, quiet's call, quiet's call while opted out (no row), quiet's call after. */
  legs: Leg[];
  /** A call still ringing: its leg state holds the caller's address. */
  inFlight: Leg;
  expectClean(t: Test, why: string, now?: number): Promise<AuditReport>;
  /** Exactly `check` fires, `n` times, with samples matching `sample`; every other check passes. */
  expectOnly(t: Test, check: AuditCheck, n: number, sample: RegExp, why: string, now?: number): Promise<AuditReport>;
  bindingKey(): Promise<string>;
  firstCdr(accountSid: string): Promise<Record<string, any>>;
  insertCdr(o: { accountSid: string; attemptedAt: number; terminatedAt: number; callId: string }): Promise<number>;
  deleteCdr(id: number): Promise<unknown>;
  runCli(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** The busy store on a database and key prefix named `name`. */
export function auditWorld(t: Test, name: string): AuditWorld {
  let deps: Omit<Parameters<typeof runAudit>[0], 'now'> | null = null;
  /** The audit as the CLI wires it, over this file's stores, at a fixed instant. */
  const audit = (now = NOW) => {
    if (!deps) {
      const calls = createCallState(w.stores.redis, w.stores.prefix, 60);
      const spool = createSpool(w.stores.redis, w.stores.prefix, 10);
      deps = {
        redis: w.stores.redis, pool: w.stores.pool, prefix: w.stores.prefix, hash: createHasher('audit-test'), retentionDays: 30,
        bindings: createBindingStore(w.stores.redis, w.stores.prefix), isCallDataKey: (k) => calls.isLegKey(k) || spool.isSpoolKey(k),
        restrictionHash: null,
      };
    }
    return runAudit({ ...deps, now: () => now });
  };

  const w: AuditWorld = {
    legs: [],
    async expectClean(t, why, now = NOW) {
      const r = await audit(now);
      t.same(Object.fromEntries(AUDIT_CHECKS.map((c) => [c, r.checks[c].breaches])), Object.fromEntries(AUDIT_CHECKS.map((c) => [c, 0])), why);
      t.equal(r.ok, true, `${why}: ok`);
      return r;
    },
    async expectOnly(t, check, n, sample, why, now = NOW) {
      const r = await audit(now);
      const want = Object.fromEntries(AUDIT_CHECKS.map((c) => [c, c === check ? n : 0]));
      t.same(Object.fromEntries(AUDIT_CHECKS.map((c) => [c, r.checks[c].breaches])), want, `${why}: only ${check}`);
      t.equal(r.ok, false);
      t.equal(r.checks[check].samples.length, Math.min(n, 5));
      for (const s of r.checks[check].samples) t.match(s, sample, 'the sample says where');
      noValues(t, r);
      return r;
    },
    async bindingKey() {
      const keys = await w.stores.keys(`${w.stores.prefix}bind:*`);
      if (keys.length !== 1) throw new Error(`expected one binding, found ${keys.length}`);
      return keys[0]!;
    },
    firstCdr: async (accountSid) => (await rowsOf(w.stores.pool, w.legs[accountSid === w.acme ? 0 : 1]!.callId))[0]!,
    async insertCdr(o) {
      const [r] = await w.stores.pool.query<ResultSetHeader>(
        `INSERT INTO cdrs (account_sid, sip_callid, direction, from_user, to_user, remote_host, attempted_at, terminated_at, answered, termination_reason)
         VALUES (?, ?, 'inbound', ?, ?, ?, ?, ?, 0, 'call-rejected')`,
        [o.accountSid, o.callId, CALLER, QUIET_NUMBER, CALLER_IP, sqlDateTime(o.attemptedAt), sqlDateTime(o.terminatedAt)]);
      return r.insertId;
    },
    deleteCdr: (id) => w.stores.pool.query('DELETE FROM cdrs WHERE cdr_id = ?', [id]),
    runCli: () => new Promise((resolve) => {
      execFile(process.execPath, [CLI], {
        env: { PATH: process.env.PATH, MYSQL_URL: w.stores.mysqlUrl, REDIS_URL, ...w.stores.redisEnv, REDIS_KEY_PREFIX: w.stores.prefix, LOG_HASH_KEY: 'cli-test' },
        timeout: 20_000,
      }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
    }),
  } as Partial<AuditWorld> as AuditWorld;

  t.before(async () => {
    w.stores = await freshStores(name);
    w.peer = await DrachtioPeer.listen();
    const { stores, peer } = w;
    // No account cache: an opt-out flip is honoured by the very next leg, so the store below is legitimate.
    w.daemon = await startDaemon(stores, peer, { env: { CDR_FLUSH_MS: '50', CDR_ACCOUNT_CACHE_MS: '0', AUDIT_INTERVAL_SECONDS: '0' } });
    await peer.waitForRoutes(CDR_VERBS);
    w.acme = await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland', numbers: [NUMBER] });
    w.quiet = await provision(stores.pool, { realm: 'quiet.example.com', numbers: [QUIET_NUMBER] });
    // Display names as people write them: neither is an address.
    await stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', ['Acme Sales :: EMEA (std::map team)', w.acme]);
    await stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', ['Quiet Ltd, since 2024-01-02T03:04:05Z', w.quiet]);

    // A phone registers (its IP lands in its binding); someone else fails to log in.
    const phone = Device.via(peer, { user: 'alice', password: 'wonderland', domain: DOMAIN, sourceAddress: DEVICE_IP, sourcePort: 5070 });
    if ((await phone.register({ userAgent: USER_AGENT, expires: 600 })).status !== 200) throw new Error('registration failed');
    const intruder = Device.via(peer, { user: 'alice', password: 'guess', domain: DOMAIN, sourceAddress: BAD_LOGIN_IP, sourcePort: 5071 });
    if ((await intruder.register()).status !== 403) throw new Error('a wrong password was not refused');

    const call = (toUser: string) => {
      const l = leg({ fromUser: CALLER, fromHost: 'carrier.example', toUser, toHost: 'sbc.example', sourceIp: CALLER_IP, userAgent: USER_AGENT });
      w.legs.push(l);
      return l;
    };
    const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
    // Answered calls to both accounts, then `quiet` opts out (a call is skipped) and back in (recorded again).
    await answeredLeg(peer, call(NUMBER), 'inbound', { attempt: ago(60_000), answer: ago(58_000), end: ago(1000) });
    await answeredLeg(peer, call(QUIET_NUMBER), 'inbound', { attempt: ago(50_000), answer: ago(49_000), end: ago(1000) });
    await waitRows(stores.pool, w.legs[1]!.callId);
    await stores.pool.query('UPDATE accounts SET disable_cdrs = 1 WHERE account_sid = ?', [w.quiet]);
    await answeredLeg(peer, call(QUIET_NUMBER), 'inbound', { attempt: ago(3000), answer: ago(2000), end: ago(0) });
    await waitMetric(w.daemon.metrics.cdrsSkipped, { reason: 'opted_out' }, 1);
    await stores.pool.query('UPDATE accounts SET disable_cdrs = 0 WHERE account_sid = ?', [w.quiet]);
    await answeredLeg(peer, call(QUIET_NUMBER), 'inbound', { attempt: ago(0), answer: ago(0), end: ago(-20) });
    // And one call still ringing: its leg state holds the caller's address, as its CDR will.
    w.inFlight = leg({ fromUser: CALLER, toUser: NUMBER, toHost: 'sbc.example', sourceIp: CALLER_IP, userAgent: USER_AGENT });
    await peer.sendCdr('attempt', 'network', tod(new Date().toISOString()), w.inFlight.invite);
    await waitRows(stores.pool, w.legs[0]!.callId);
    await waitRows(stores.pool, w.legs[3]!.callId);
    await eventually(async () => (await stores.redis.exists(legKeys(stores.prefix, w.inFlight.callId).leg)) === 1);
  });
  t.teardown(async () => {
    await w.daemon?.close();
    await w.peer?.close();
    await w.stores?.close();
  });
  return w;
}
