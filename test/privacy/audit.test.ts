// The privacy audit over a store the real daemon filled (test/privacy/audit-world.ts): it passes as
// is, and finds each breach of Redis and MySQL places (a binding's TTL, an address or a SIP body where
// none may be) when one is planted — exactly that check, naming the place and never the value — and
// passes again once the plant is gone. The CLI (npm run audit) says the same with its exit code.
import { existsSync } from 'node:fs';
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { legKeys } from '../../lib/calls/correlate.js';
import { AUDIT_CHECKS } from '../../lib/metrics.js';
import { hasIp, hasSipBody, type AuditReport } from '../../lib/privacy/audit.js';
import { metric, redisDump, rowsOf } from '../calls/helpers.js';
import { auditWorld, CALLER, CALLER_IP, CLI, DEVICE_IP, NOW, noValues, PLANTED_IP, PLANTED_IP6, SDP } from './audit-world.js';

const w = auditWorld(t, 'privacy_audit');

t.test('the store is busy: what the audit is about to judge is really there', async (t) => {
  const dump = await redisDump(w.stores);
  const keys = Object.keys(dump).map((k) => k.slice(w.stores.prefix.length));
  const binding = Object.entries(dump).filter(([k]) => k.startsWith(`${w.stores.prefix}bind:`));
  t.equal(binding.length, 1, 'one binding');
  t.match(binding[0]![1], DEVICE_IP, 'holding the phone address');
  t.match(binding[0]![1], '66.86.0.15', 'and its user agent, version and all');
  t.ok(keys.some((k) => k.startsWith('aor:')) && keys.some((k) => k.startsWith('bindings:{b')), 'the AOR and binding indexes');
  t.ok(keys.some((k) => k.startsWith('nc:')), 'a nonce-count');
  t.ok(keys.some((k) => k.startsWith('authfail:')), 'a failed-login counter');
  t.ok(keys.some((k) => k.startsWith('cdr:done:')), 'tombstones of finished legs');
  t.match(dump[legKeys(w.stores.prefix, w.inFlight.callId).leg], CALLER_IP, 'a leg in flight holding the caller address');
  const [a] = await rowsOf(w.stores.pool, w.legs[0]!.callId);
  t.match(a, { account_sid: w.acme, remote_host: CALLER_IP, from_user: CALLER, user_agent: 'Yealink SIP-T46S' });
  t.same(await rowsOf(w.stores.pool, w.legs[2]!.callId), [], 'the call while opted out left no row');
  t.equal((await rowsOf(w.stores.pool, w.legs[3]!.callId)).length, 1, 'the call after opting back in did');
  const [hist] = await w.stores.pool.query<RowDataPacket[]>('SELECT disable_cdrs FROM cdr_opt_out_history WHERE account_sid = ? ORDER BY id', [w.quiet]);
  t.same(hist.map((h) => Number(h.disable_cdrs)), [0, 1, 0], 'the opt-out flips are in the history');
  t.equal(await metric(w.daemon.metrics.cdrsSkipped, { reason: 'opted_out' }), 1);
});

t.test('a clean store passes, in process and through the CLI', async (t) => {
  const r = await w.expectClean(t, 'nothing to report');
  t.same(Object.values(r.checks).flatMap((c) => c.samples), []);
  t.equal(r.at, new Date(NOW).toISOString());

  if (!existsSync(CLI)) return t.fail(`${CLI} is missing: run npm run build first`);
  const cli = await w.runCli();
  t.equal(cli.code, 0, `exit 0 (stderr: ${cli.stderr})`);
  const report = JSON.parse(cli.stdout) as AuditReport;
  t.equal(report.ok, true, 'the JSON report on stdout');
  t.same(Object.fromEntries(AUDIT_CHECKS.map((c) => [c, report.checks[c].breaches])), Object.fromEntries(AUDIT_CHECKS.map((c) => [c, 0])));
  t.match(cli.stderr, /^privacy audit passed \(/, 'the summary on stderr');
  for (const c of AUDIT_CHECKS) t.match(cli.stderr, new RegExp(`^ok {3}${c}: 0 breach\\(es\\)$`, 'm'));
  noValues(t, cli.stdout + cli.stderr, 'the CLI output');
});

t.test('binding_ttl: a binding that never expires, or outlives the hour', async (t) => {
  const key = await w.bindingKey();
  const pttl = await w.stores.redis.pttl(key);
  t.ok(pttl > 0 && pttl <= 600_000);

  await w.stores.redis.persist(key);
  await w.expectOnly(t, 'binding_ttl', 1, /^redis bind #[0-9a-f]{16}$/, 'PERSIST');
  await w.stores.redis.pexpire(key, 3_600_000 + 60_000);
  await w.expectOnly(t, 'binding_ttl', 1, /^redis bind #[0-9a-f]{16}$/, 'an hour and a minute');
  await w.stores.redis.pexpire(key, 3_600_000);
  await w.expectClean(t, 'at most the policy hour is fine');
  await w.stores.redis.pexpire(key, pttl);
  await w.expectClean(t, 'restored');

  if (!existsSync(CLI)) return t.fail(`${CLI} is missing: run npm run build first`);
  await w.stores.redis.persist(key);
  const cli = await w.runCli();
  await w.stores.redis.pexpire(key, pttl);
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
  const p = w.stores.prefix;
  await w.stores.redis.set(`${p}misc:last-seen`, `from ${PLANTED_IP}:5060`, 'EX', 600);
  await w.expectOnly(t, 'ip_outside_binding', 1, /^redis misc:last-seen #[0-9a-f]{16}$/, 'in a string value');
  await w.stores.redis.del(`${p}misc:last-seen`);
  await w.expectClean(t, 'removed');

  await w.stores.redis.hset(`${p}misc:peer`, 'addr', `[${PLANTED_IP6}]:5060`);
  await w.expectOnly(t, 'ip_outside_binding', 1, /^redis misc:peer #[0-9a-f]{16}$/, 'an IPv6 address in a hash');
  await w.stores.redis.del(`${p}misc:peer`);

  await w.stores.redis.set(`${p}seen:${PLANTED_IP}`, '1', 'EX', 600);
  await w.expectOnly(t, 'ip_outside_binding', 1, /^redis seen #[0-9a-f]{16}$/, 'in a key name');
  await w.stores.redis.del(`${p}seen:${PLANTED_IP}`);

  const aor = (await w.stores.keys(`${p}aor:*`))[0]!;
  await w.stores.redis.zadd(aor, Date.now() + 60_000, PLANTED_IP);
  await w.expectOnly(t, 'ip_outside_binding', 1, /^redis aor #[0-9a-f]{16}$/, "in a binding's index (not a binding)");
  await w.stores.redis.zrem(aor, PLANTED_IP);
  await w.expectClean(t, 'removed');

  const [[acct]] = await w.stores.pool.query<RowDataPacket[]>('SELECT name FROM accounts WHERE account_sid = ?', [w.acme]);
  await w.stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', [`Office at ${PLANTED_IP}`, w.acme]);
  await w.expectOnly(t, 'ip_outside_binding', 1, /^mysql accounts row \d+$/, 'in a MySQL row outside cdrs');
  await w.stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', [acct!.name, w.acme]);
  await w.expectClean(t, 'restored');

  // The customer's registration hook may be named by its server's address: not an end user's.
  await w.stores.pool.query('UPDATE accounts SET registration_hook_url = ? WHERE account_sid = ?', [`http://${PLANTED_IP}:8080/auth`, w.acme]);
  await w.expectClean(t, 'an address in registration_hook_url is the customer\'s server');
  await w.stores.pool.query('UPDATE accounts SET registration_hook_username = ? WHERE account_sid = ?', [PLANTED_IP, w.acme]);
  await w.expectOnly(t, 'ip_outside_binding', 1, /^mysql accounts row \d+$/, 'in any other column of accounts');
  await w.stores.pool.query('UPDATE accounts SET registration_hook_url = NULL, registration_hook_username = NULL WHERE account_sid = ?', [w.acme]);
  await w.expectClean(t, 'restored');

  const row = await w.firstCdr(w.acme);
  await w.stores.pool.query('UPDATE cdrs SET from_user = ? WHERE cdr_id = ?', [PLANTED_IP, row.cdr_id]);
  await w.expectOnly(t, 'ip_outside_binding', 1, new RegExp(`^mysql cdrs cdr_id=${row.cdr_id}$`), 'in a CDR column other than remote_host');
  await w.stores.pool.query('UPDATE cdrs SET from_user = ? WHERE cdr_id = ?', [row.from_user, row.cdr_id]);
  await w.expectClean(t, 'restored');
});


t.test('sip_body_stored: SDP or a SIP message in Redis or MySQL', async (t) => {
  const p = w.stores.prefix;
  await w.stores.redis.set(`${p}misc:offer`, SDP, 'EX', 600);
  await w.expectOnly(t, 'sip_body_stored', 1, /^redis misc:offer #[0-9a-f]{16}$/, 'SDP in a string');
  await w.stores.redis.del(`${p}misc:offer`);
  await w.expectClean(t, 'removed');

  const legKey = legKeys(p, w.inFlight.callId).leg;
  await w.stores.redis.hset(legKey, 'sdp', SDP);
  await w.expectOnly(t, 'sip_body_stored', 1, /^redis cdr:leg #[0-9a-f]{16}$/, 'SDP in a leg in flight (which may hold an address, never a body)');
  await w.stores.redis.hdel(legKey, 'sdp');

  await w.stores.redis.rpush(`${p}misc:msgs`, 'SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\n');
  await w.stores.redis.expire(`${p}misc:msgs`, 600);
  await w.expectOnly(t, 'sip_body_stored', 1, /^redis misc:msgs #[0-9a-f]{16}$/, 'a SIP message in a list');
  await w.stores.redis.del(`${p}misc:msgs`);
  await w.expectClean(t, 'removed');

  const row = await w.firstCdr(w.acme);
  await w.stores.pool.query('UPDATE cdrs SET user_agent = ? WHERE cdr_id = ?', ['m=audio 49170 RTP/AVP 0', row.cdr_id]);
  await w.expectOnly(t, 'sip_body_stored', 1, new RegExp(`^mysql cdrs cdr_id=${row.cdr_id}$`), 'SDP in a cdrs column');
  await w.stores.pool.query('UPDATE cdrs SET user_agent = ? WHERE cdr_id = ?', [row.user_agent, row.cdr_id]);

  const [[acct]] = await w.stores.pool.query<RowDataPacket[]>('SELECT name FROM accounts WHERE account_sid = ?', [w.quiet]);
  await w.stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', [SDP, w.quiet]);
  await w.expectOnly(t, 'sip_body_stored', 1, /^mysql accounts row \d+$/, 'SDP in another table');
  await w.stores.pool.query('UPDATE accounts SET name = ? WHERE account_sid = ?', [acct!.name, w.quiet]);
  await w.expectClean(t, 'restored');
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
