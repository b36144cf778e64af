// The privacy audit over a store the real daemon filled (a registered phone, answered calls, a call
// in flight, failed logins, opt-out flips): it passes as is, and finds each kind of breach when one
// is planted — exactly that check, naming the place and never the value — and passes again once the
// plant is gone. The CLI (npm run audit) says the same with its exit code.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import mysql from 'mysql2/promise';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { createCallState, legId } from '../../lib/calls/correlate.js';
import { sqlDateTime } from '../../lib/calls/row.js';
import { createSpool } from '../../lib/calls/spool.js';
import { connectionOptions } from '../../lib/db/pool.js';
import { createHasher } from '../../lib/log.js';
import { AUDIT_CHECKS, type AuditCheck } from '../../lib/metrics.js';
import { hasIp, hasSipBody, OPT_OUT_GRACE_MS, runAudit, type AuditReport } from '../../lib/privacy/audit.js';
import { createBindingStore } from '../../lib/register/bindings.js';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, provision, REDIS_URL, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { Device } from '../helpers/ua.js';
import { answeredLeg, CDR_VERBS, leg, metric, redisDump, rowsOf, tod, waitMetric, waitRows, type Leg } from '../calls/helpers.js';

const CLI = join(__dirname, '..', '..', 'dist', 'lib', 'cli', 'audit.js');
const DAY = 86_400_000;
const DOMAIN = 'audit.example.com';
const DEVICE_IP = '198.51.100.61';
const BAD_LOGIN_IP = '198.51.100.99';
const CALLER_IP = '203.0.113.62';
const CALLER = '+14155550163';
const NUMBER = '+15550001163';
const QUIET_NUMBER = '+15550002163';
const USER_AGENT = 'Yealink SIP-T46S 66.86.0.15';
const PLANTED_IP = '192.0.2.77';
const PLANTED_IP6 = '2001:db8::7:1';
const SDP = 'v=0\r\ns=-\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=sendrecv\r\n'; // no address in it: only the body check may fire
const FORBIDDEN = [DEVICE_IP, BAD_LOGIN_IP, CALLER_IP, CALLER, NUMBER, QUIET_NUMBER, PLANTED_IP, PLANTED_IP6, 'alice', '10.9.8.7', 'm=audio', 'v=0'];

let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let acme = '';
let quiet = '';
const legs: Leg[] = [];
let inFlight: Leg;

t.before(async () => {
  stores = await freshStores('privacy_audit');
  peer = await DrachtioPeer.listen();
  // No account cache: an opt-out flip is honoured by the very next leg, so the store below is legitimate.
  daemon = await startDaemon(stores, peer, { env: { CDR_FLUSH_MS: '50', CDR_ACCOUNT_CACHE_MS: '0', AUDIT_INTERVAL_SECONDS: '0' } });
  await peer.waitForRoutes(CDR_VERBS);
  acme = await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland', numbers: [NUMBER] });
  quiet = await provision(stores.pool, { realm: 'quiet.example.com', numbers: [QUIET_NUMBER] });
  // Display names as people write them: neither is an address.
  await stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', ['Acme Sales :: EMEA (std::map team)', acme]);
  await stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', ['Quiet Ltd, since 2024-01-02T03:04:05Z', quiet]);

  // A phone registers (its IP lands in its binding); someone else fails to log in.
  const phone = Device.via(peer, { user: 'alice', password: 'wonderland', domain: DOMAIN, sourceAddress: DEVICE_IP, sourcePort: 5070 });
  if ((await phone.register({ userAgent: USER_AGENT, expires: 600 })).status !== 200) throw new Error('registration failed');
  const intruder = Device.via(peer, { user: 'alice', password: 'guess', domain: DOMAIN, sourceAddress: BAD_LOGIN_IP, sourcePort: 5071 });
  if ((await intruder.register()).status !== 403) throw new Error('a wrong password was not refused');

  const call = (toUser: string) => {
    const l = leg({ fromUser: CALLER, fromHost: 'carrier.example', toUser, toHost: 'sbc.example', sourceIp: CALLER_IP, userAgent: USER_AGENT });
    legs.push(l);
    return l;
  };
  const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
  // Answered calls to both accounts, then `quiet` opts out (a call is skipped) and back in (recorded again).
  await answeredLeg(peer, call(NUMBER), 'inbound', { attempt: ago(60_000), answer: ago(58_000), end: ago(1000) });
  await answeredLeg(peer, call(QUIET_NUMBER), 'inbound', { attempt: ago(50_000), answer: ago(49_000), end: ago(1000) });
  await waitRows(stores.pool, legs[1]!.callId);
  await stores.pool.query('UPDATE accounts SET disable_cdrs = 1 WHERE account_sid = ?', [quiet]);
  await answeredLeg(peer, call(QUIET_NUMBER), 'inbound', { attempt: ago(3000), answer: ago(2000), end: ago(0) });
  await waitMetric(daemon.metrics.cdrsSkipped, { reason: 'opted_out' }, 1);
  await stores.pool.query('UPDATE accounts SET disable_cdrs = 0 WHERE account_sid = ?', [quiet]);
  await answeredLeg(peer, call(QUIET_NUMBER), 'inbound', { attempt: ago(0), answer: ago(0), end: ago(-20) });
  // And one call still ringing: its leg state holds the caller's address, as its CDR will.
  inFlight = leg({ fromUser: CALLER, toUser: NUMBER, toHost: 'sbc.example', sourceIp: CALLER_IP, userAgent: USER_AGENT });
  await peer.sendCdr('attempt', 'network', tod(new Date().toISOString()), inFlight.invite);
  await waitRows(stores.pool, legs[0]!.callId);
  await waitRows(stores.pool, legs[3]!.callId);
  await eventually(async () => (await stores.redis.exists(`${stores.prefix}cdr:leg:${legId(inFlight.callId)}`)) === 1);
});
t.teardown(async () => {
  await daemon?.close();
  await peer?.close();
  await stores?.close();
});

const NOW = Date.now();
let deps: Omit<Parameters<typeof runAudit>[0], 'now'> | null = null;
/** The audit as the CLI wires it, over this file's stores, at a fixed instant. */
const audit = (now = NOW) => {
  if (!deps) {
    const calls = createCallState(stores.redis, stores.prefix, 60);
    const spool = createSpool(stores.redis, stores.prefix, 10);
    deps = {
      redis: stores.redis, pool: stores.pool, prefix: stores.prefix, hash: createHasher('audit-test'), retentionDays: 30,
      bindings: createBindingStore(stores.redis, stores.prefix), isCallDataKey: (k) => calls.isLegKey(k) || k === spool.key,
      restrictionHash: null,
    };
  }
  return runAudit({ ...deps, now: () => now });
};

function noValues(t: Test, report: unknown, what = 'the report') {
  const text = JSON.stringify(report);
  t.same(FORBIDDEN.filter((v) => text.includes(v)), [], `${what} names places, never a value`);
}

async function expectClean(t: Test, why: string, now = NOW): Promise<AuditReport> {
  const r = await audit(now);
  t.same(Object.fromEntries(AUDIT_CHECKS.map((c) => [c, r.checks[c].breaches])), Object.fromEntries(AUDIT_CHECKS.map((c) => [c, 0])), why);
  t.equal(r.ok, true, `${why}: ok`);
  return r;
}

/** Exactly `check` fires, `n` times, with samples matching `sample`; every other check passes. */
async function expectOnly(t: Test, check: AuditCheck, n: number, sample: RegExp, why: string, now = NOW): Promise<AuditReport> {
  const r = await audit(now);
  const want = Object.fromEntries(AUDIT_CHECKS.map((c) => [c, c === check ? n : 0]));
  t.same(Object.fromEntries(AUDIT_CHECKS.map((c) => [c, r.checks[c].breaches])), want, `${why}: only ${check}`);
  t.equal(r.ok, false);
  t.equal(r.checks[check].samples.length, Math.min(n, 5));
  for (const s of r.checks[check].samples) t.match(s, sample, 'the sample says where');
  noValues(t, r);
  return r;
}

const bindingKey = async () => {
  const keys = await stores.redis.keys(`${stores.prefix}bind:*`);
  if (keys.length !== 1) throw new Error(`expected one binding, found ${keys.length}`);
  return keys[0]!;
};
const firstCdr = async (accountSid: string) => (await rowsOf(stores.pool, legs[accountSid === acme ? 0 : 1]!.callId))[0]!;

async function insertCdr(o: { accountSid: string; attemptedAt: number; terminatedAt: number; callId: string }): Promise<number> {
  const [r] = await stores.pool.query<ResultSetHeader>(
    `INSERT INTO cdrs (account_sid, sip_callid, direction, from_user, to_user, remote_host, attempted_at, terminated_at, answered, termination_reason)
     VALUES (?, ?, 'inbound', ?, ?, ?, ?, ?, 0, 'call-rejected')`,
    [o.accountSid, o.callId, CALLER, QUIET_NUMBER, CALLER_IP, sqlDateTime(o.attemptedAt), sqlDateTime(o.terminatedAt)]);
  return r.insertId;
}
const deleteCdr = (id: number) => stores.pool.query('DELETE FROM cdrs WHERE cdr_id = ?', [id]);

function runCli(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI], {
      env: { PATH: process.env.PATH, MYSQL_URL: stores.mysqlUrl, REDIS_URL, REDIS_KEY_PREFIX: stores.prefix, LOG_HASH_KEY: 'cli-test' },
      timeout: 20_000,
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
  });
}

t.test('the store is busy: what the audit is about to judge is really there', async (t) => {
  const dump = await redisDump(stores);
  const keys = Object.keys(dump).map((k) => k.slice(stores.prefix.length));
  const binding = Object.entries(dump).filter(([k]) => k.startsWith(`${stores.prefix}bind:`));
  t.equal(binding.length, 1, 'one binding');
  t.match(binding[0]![1], DEVICE_IP, 'holding the phone address');
  t.match(binding[0]![1], '66.86.0.15', 'and its user agent, version and all');
  t.ok(keys.some((k) => k.startsWith('aor:')) && keys.includes('bindings'), 'the AOR and binding indexes');
  t.ok(keys.some((k) => k.startsWith('nc:')), 'a nonce-count');
  t.ok(keys.some((k) => k.startsWith('authfail:')), 'a failed-login counter');
  t.ok(keys.some((k) => k.startsWith('cdr:done:')), 'tombstones of finished legs');
  t.match(dump[`${stores.prefix}cdr:leg:${legId(inFlight.callId)}`], CALLER_IP, 'a leg in flight holding the caller address');
  const [a] = await rowsOf(stores.pool, legs[0]!.callId);
  t.match(a, { account_sid: acme, remote_host: CALLER_IP, from_user: CALLER, user_agent: 'Yealink SIP-T46S' });
  t.same(await rowsOf(stores.pool, legs[2]!.callId), [], 'the call while opted out left no row');
  t.equal((await rowsOf(stores.pool, legs[3]!.callId)).length, 1, 'the call after opting back in did');
  const [hist] = await stores.pool.query<RowDataPacket[]>('SELECT disable_cdrs FROM cdr_opt_out_history WHERE account_sid = ? ORDER BY id', [quiet]);
  t.same(hist.map((h) => Number(h.disable_cdrs)), [0, 1, 0], 'the opt-out flips are in the history');
  t.equal(await metric(daemon.metrics.cdrsSkipped, { reason: 'opted_out' }), 1);
});

t.test('a clean store passes, in process and through the CLI', async (t) => {
  const r = await expectClean(t, 'nothing to report');
  t.same(Object.values(r.checks).flatMap((c) => c.samples), []);
  t.equal(r.at, new Date(NOW).toISOString());

  if (!existsSync(CLI)) return t.fail(`${CLI} is missing: run npm run build first`);
  const cli = await runCli();
  t.equal(cli.code, 0, `exit 0 (stderr: ${cli.stderr})`);
  const report = JSON.parse(cli.stdout) as AuditReport;
  t.equal(report.ok, true, 'the JSON report on stdout');
  t.same(Object.fromEntries(AUDIT_CHECKS.map((c) => [c, report.checks[c].breaches])), Object.fromEntries(AUDIT_CHECKS.map((c) => [c, 0])));
  t.match(cli.stderr, /^privacy audit passed \(/, 'the summary on stderr');
  for (const c of AUDIT_CHECKS) t.match(cli.stderr, new RegExp(`^ok {3}${c}: 0 breach\\(es\\)$`, 'm'));
  noValues(t, cli.stdout + cli.stderr, 'the CLI output');
});

t.test('binding_ttl: a binding that never expires, or outlives the hour', async (t) => {
  const key = await bindingKey();
  const pttl = await stores.redis.pttl(key);
  t.ok(pttl > 0 && pttl <= 600_000);

  await stores.redis.persist(key);
  await expectOnly(t, 'binding_ttl', 1, /^redis bind #[0-9a-f]{16}$/, 'PERSIST');
  await stores.redis.pexpire(key, 3_600_000 + 60_000);
  await expectOnly(t, 'binding_ttl', 1, /^redis bind #[0-9a-f]{16}$/, 'an hour and a minute');
  await stores.redis.pexpire(key, 3_600_000);
  await expectClean(t, 'at most the policy hour is fine');
  await stores.redis.pexpire(key, pttl);
  await expectClean(t, 'restored');

  if (!existsSync(CLI)) return t.fail(`${CLI} is missing: run npm run build first`);
  await stores.redis.persist(key);
  const cli = await runCli();
  await stores.redis.pexpire(key, pttl);
  t.equal(cli.code, 1, 'the CLI exits 1 on a breach');
  const report = JSON.parse(cli.stdout) as AuditReport;
  t.equal(report.ok, false);
  t.equal(report.checks.binding_ttl.breaches, 1);
  t.equal(report.checks.ip_outside_binding.breaches, 0);
  t.match(cli.stderr, /^privacy audit FOUND BREACHES/);
  t.match(cli.stderr, /^FAIL binding_ttl: 1 breach\(es\) — redis bind #[0-9a-f]{16}$/m);
  noValues(t, cli.stdout + cli.stderr, 'the CLI output');
});

t.test('ip_outside_binding: an address anywhere but a binding, a leg in flight, its spooled row or cdrs.remote_host', async (t) => {
  const p = stores.prefix;
  await stores.redis.set(`${p}misc:last-seen`, `from ${PLANTED_IP}:5060`, 'EX', 600);
  await expectOnly(t, 'ip_outside_binding', 1, /^redis misc:last-seen #[0-9a-f]{16}$/, 'in a string value');
  await stores.redis.del(`${p}misc:last-seen`);
  await expectClean(t, 'removed');

  await stores.redis.hset(`${p}misc:peer`, 'addr', `[${PLANTED_IP6}]:5060`);
  await expectOnly(t, 'ip_outside_binding', 1, /^redis misc:peer #[0-9a-f]{16}$/, 'an IPv6 address in a hash');
  await stores.redis.del(`${p}misc:peer`);

  await stores.redis.set(`${p}seen:${PLANTED_IP}`, '1', 'EX', 600);
  await expectOnly(t, 'ip_outside_binding', 1, /^redis seen #[0-9a-f]{16}$/, 'in a key name');
  await stores.redis.del(`${p}seen:${PLANTED_IP}`);

  const aor = (await stores.redis.keys(`${p}aor:*`))[0]!;
  await stores.redis.zadd(aor, Date.now() + 60_000, PLANTED_IP);
  await expectOnly(t, 'ip_outside_binding', 1, /^redis aor #[0-9a-f]{16}$/, "in a binding's index (not a binding)");
  await stores.redis.zrem(aor, PLANTED_IP);
  await expectClean(t, 'removed');

  const [[acct]] = await stores.pool.query<RowDataPacket[]>('SELECT name FROM accounts WHERE account_sid = ?', [acme]);
  await stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', [`Office at ${PLANTED_IP}`, acme]);
  await expectOnly(t, 'ip_outside_binding', 1, /^mysql accounts row \d+$/, 'in a MySQL row outside cdrs');
  await stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', [acct!.name, acme]);
  await expectClean(t, 'restored');

  const row = await firstCdr(acme);
  await stores.pool.query('UPDATE cdrs SET from_user = ? WHERE cdr_id = ?', [PLANTED_IP, row.cdr_id]);
  await expectOnly(t, 'ip_outside_binding', 1, new RegExp(`^mysql cdrs cdr_id=${row.cdr_id}$`), 'in a CDR column other than remote_host');
  await stores.pool.query('UPDATE cdrs SET from_user = ? WHERE cdr_id = ?', [row.from_user, row.cdr_id]);
  await expectClean(t, 'restored');
});

t.test('cdr_past_retention: a CDR attempted more than 30 days ago, to the millisecond', async (t) => {
  const old = await insertCdr({ accountSid: acme, attemptedAt: NOW - 30 * DAY - 1, terminatedAt: NOW - 30 * DAY + 5000, callId: 'planted-old@x' });
  const edge = await insertCdr({ accountSid: acme, attemptedAt: NOW - 30 * DAY, terminatedAt: NOW - 30 * DAY + 5000, callId: 'planted-edge@x' });
  const r = await expectOnly(t, 'cdr_past_retention', 1, new RegExp(`^mysql cdrs 1 rows, e\\.g\\. cdr_id=${old}$`), 'one row past the retention');
  t.notMatch(r.checks.cdr_past_retention.samples.join(), String(edge), 'the row exactly 30 days old is within it');
  await deleteCdr(old);
  await expectClean(t, 'removed');
  await expectOnly(t, 'cdr_past_retention', 1, new RegExp(`^mysql cdrs 1 rows, e\\.g\\. cdr_id=${edge}$`), 'a millisecond later, the edge row is past it too', NOW + 1);
  await deleteCdr(edge);
});

t.test('cdr_while_opted_out: a CDR of a leg that ended over 5 s into an opt-out', async (t) => {
  await stores.pool.query('UPDATE accounts SET disable_cdrs = 1 WHERE account_sid = ?', [quiet]);
  const [[h]] = await stores.pool.query<RowDataPacket[]>(
    'SELECT changed_at FROM cdr_opt_out_history WHERE account_sid = ? ORDER BY id DESC LIMIT 1', [quiet]);
  const optedOut = (h!.changed_at as Date).getTime();

  const inGrace = await insertCdr({ accountSid: quiet, attemptedAt: optedOut - 60_000, terminatedAt: optedOut + OPT_OUT_GRACE_MS - 100, callId: 'planted-grace@x' });
  await expectClean(t, 'ended within the grace after the opt-out: the cache may not have known yet');
  const breach = await insertCdr({ accountSid: quiet, attemptedAt: optedOut - 60_000, terminatedAt: optedOut + OPT_OUT_GRACE_MS + 100, callId: 'planted-optout@x' });
  await expectOnly(t, 'cdr_while_opted_out', 1, new RegExp(`^mysql cdrs cdr_id=${breach}$`), 'ended 5.1 s into the opt-out');
  const other = await insertCdr({ accountSid: acme, attemptedAt: optedOut, terminatedAt: optedOut + 60_000, callId: 'planted-acme@x' });
  await expectOnly(t, 'cdr_while_opted_out', 1, new RegExp(`^mysql cdrs cdr_id=${breach}$`), "another account's CDR at the same time is fine");
  await deleteCdr(breach);
  await expectClean(t, 'removed');
  await deleteCdr(inGrace);
  await deleteCdr(other);

  // Out (above), in, out and in again within seconds, placed an hour on: a leg ending 2 s into the
  // second opt-out, 4 s after an opt-in, is within the grace; one ending 5.1 s into it is not.
  for (const v of [0, 1, 0]) await stores.pool.query('UPDATE accounts SET disable_cdrs = ? WHERE account_sid = ?', [v, quiet]);
  const [flips] = await stores.pool.query<RowDataPacket[]>(
    'SELECT id, disable_cdrs FROM cdr_opt_out_history WHERE account_sid = ? ORDER BY id DESC LIMIT 3', [quiet]);
  t.same(flips.map((f) => Number(f.disable_cdrs)), [0, 1, 0], 'the triggers recorded the three flips');
  const base = Date.now() + 3_600_000;
  const setAt = (id: unknown, at: number) => stores.pool.query('UPDATE cdr_opt_out_history SET changed_at = ? WHERE id = ?', [sqlDateTime(at), id]);
  await setAt(flips[2]!.id, base + 2000); // in
  await setAt(flips[1]!.id, base + 4000); // out
  await setAt(flips[0]!.id, base + 12_000); // in
  const flapping = await insertCdr({ accountSid: quiet, attemptedAt: base + 1000, terminatedAt: base + 6000, callId: 'planted-flap@x' });
  await expectClean(t, 'ended 2 s into an opt-out that followed an opt-in 2 s before it: within the grace');
  const tooLate = await insertCdr({ accountSid: quiet, attemptedAt: base + 1000, terminatedAt: base + 9100, callId: 'planted-flap-late@x' });
  await expectOnly(t, 'cdr_while_opted_out', 1, new RegExp(`^mysql cdrs cdr_id=${tooLate}$`), 'ended 5.1 s into that opt-out');
  await deleteCdr(flapping);
  await deleteCdr(tooLate);
  await expectClean(t, 'removed');
});

t.test('opt-out history is in UTC whatever the time zone of the session that flipped it', async (t) => {
  const conn = await mysql.createConnection({ ...connectionOptions(stores.mysqlUrl), database: stores.database });
  t.teardown(() => conn.end());
  /** Flips acme's opt-out from a session in time zone `tz`; returns the wall-clock instant of the flip. */
  const flip = async (tz: string, value: 0 | 1) => {
    await conn.query('SET time_zone = ?', [tz]);
    const wall = Date.now();
    await conn.query('UPDATE accounts SET disable_cdrs = ? WHERE account_sid = ?', [value, acme]);
    const [[row]] = await stores.pool.query<RowDataPacket[]>(
      'SELECT changed_at FROM cdr_opt_out_history WHERE account_sid = ? ORDER BY id DESC LIMIT 1', [acme]);
    const offMinutes = ((row!.changed_at as Date).getTime() - wall) / 60_000;
    t.ok(Math.abs(offMinutes) < 30, `recorded in UTC from a ${tz} session (${offMinutes.toFixed(1)} min off the wall clock, not hours)`);
    return wall;
  };
  // An operator east of UTC opts acme out: a leg ending 30 s later must not have been stored.
  const out = await flip('+05:00', 1);
  const leaked = await insertCdr({ accountSid: acme, attemptedAt: out, terminatedAt: out + 30_000, callId: 'planted-tz-out@x' });
  await expectOnly(t, 'cdr_while_opted_out', 1, new RegExp(`^mysql cdrs cdr_id=${leaked}$`), 'found');
  await deleteCdr(leaked);
  // One west of UTC opts it back in: a leg ending 30 s later is legitimate.
  const back = await flip('-05:00', 0);
  const fine = await insertCdr({ accountSid: acme, attemptedAt: back, terminatedAt: back + 30_000, callId: 'planted-tz-in@x' });
  await expectClean(t, 'no breach after the opt-in');
  await deleteCdr(fine);
});

t.test('sip_body_stored: SDP or a SIP message in Redis or MySQL', async (t) => {
  const p = stores.prefix;
  await stores.redis.set(`${p}misc:offer`, SDP, 'EX', 600);
  await expectOnly(t, 'sip_body_stored', 1, /^redis misc:offer #[0-9a-f]{16}$/, 'SDP in a string');
  await stores.redis.del(`${p}misc:offer`);
  await expectClean(t, 'removed');

  const legKey = `${p}cdr:leg:${legId(inFlight.callId)}`;
  await stores.redis.hset(legKey, 'sdp', SDP);
  await expectOnly(t, 'sip_body_stored', 1, /^redis cdr:leg #[0-9a-f]{16}$/, 'SDP in a leg in flight (which may hold an address, never a body)');
  await stores.redis.hdel(legKey, 'sdp');

  await stores.redis.rpush(`${p}misc:msgs`, 'SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\n');
  await stores.redis.expire(`${p}misc:msgs`, 600);
  await expectOnly(t, 'sip_body_stored', 1, /^redis misc:msgs #[0-9a-f]{16}$/, 'a SIP message in a list');
  await stores.redis.del(`${p}misc:msgs`);
  await expectClean(t, 'removed');

  const row = await firstCdr(acme);
  await stores.pool.query('UPDATE cdrs SET user_agent = ? WHERE cdr_id = ?', ['m=audio 49170 RTP/AVP 0', row.cdr_id]);
  await expectOnly(t, 'sip_body_stored', 1, new RegExp(`^mysql cdrs cdr_id=${row.cdr_id}$`), 'SDP in a cdrs column');
  await stores.pool.query('UPDATE cdrs SET user_agent = ? WHERE cdr_id = ?', [row.user_agent, row.cdr_id]);

  const [[acct]] = await stores.pool.query<RowDataPacket[]>('SELECT name FROM accounts WHERE account_sid = ?', [quiet]);
  await stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', [SDP, quiet]);
  await expectOnly(t, 'sip_body_stored', 1, /^mysql accounts row \d+$/, 'SDP in another table');
  await stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', [acct!.name, quiet]);
  await expectClean(t, 'restored');
});

t.test('what a busy store holds is not mistaken for an address or a SIP body', async (t) => {
  for (const s of [
    '2030-05-20T12:00:00.000Z', '2030-05-20 12:00:00.123', '12:00:00', 'Linphone/5.2.0 (belle-sip/5.2.0)', 'Bria 6.5.2',
    '1.2.3.4.5', '+1.212.555.0100', '3f2a9c1e-0b7d-4e5f-9a8b-1c2d3e4f5a6b', 'std::string', 'Sales :: EMEA', 'Acme::Sales',
    'AB:CD:EF:01:23:45', 'sip:alice@example.com;expires=3600', '{"cdrs":3,"spooled":0}',
  ]) t.equal(hasIp(s), false, `no address in ${JSON.stringify(s)}`);
  for (const s of [
    '10.0.0.1', 'x 192.0.2.1:5060', '::1', '2001:db8::1', 'fe80::1%eth0', '[2001:db8::1]:5060', '"2001:db8:0:0:0:0:0:1"', '::ffff:192.0.2.1',
  ]) t.equal(hasIp(s), true, `an address in ${JSON.stringify(s)}`);
  t.equal(hasSipBody('Bria 6.5.2 release=2030-05-20'), false);
  t.equal(hasSipBody('Via: SIP/2.0/UDP host'), true);
});
