// The whole flow through the real daemon: the peer sends CDR events exactly as drachtio-server
// frames them (INVITE and 200 OK with SDP), rows land in the real MariaDB.
import t from 'tap';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, provision, type Daemon, type Stores } from '../helpers/harness.js';
import {
  answeredLeg, cdrDaemon, clock, gauge, holdsSdp, leg, metric, mysqlDump, redisDump, rowsOf, scrape, tod,
  unansweredLeg, waitMetric, waitRows,
} from './helpers.js';

const at = (hms: string, day = '2030-07-01') => `${day}T${hms}Z`;
const iso = (d: unknown) => (d as Date).toISOString();
const c = clock(at('12:00:00'));
let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let acme = '';
let beta = '';

t.before(async () => {
  stores = await freshStores('calls_flow');
  peer = await DrachtioPeer.listen();
  daemon = await cdrDaemon(stores, peer, { now: c.now });
  acme = await provision(stores.pool, { realm: 'acme.example', numbers: ['+15551230000'] });
  beta = await provision(stores.pool, { realm: 'beta.example' });
});
t.teardown(async () => {
  await daemon.close();
  await peer.close();
  await stores.close();
});

t.test('B2BUA: an answered call gives one row per leg, each with its own Call-ID', async (t) => {
  const inbound = leg({
    fromUser: '+15550001111', fromHost: 'carrier.example', toUser: '+15551230000', toHost: 'sbc.example',
    sourceIp: '203.0.113.7', userAgent: 'Acme-Phone/1.0 SN123456789', extraHeaders: [`X-Account-Sid: ${beta}`],
  });
  const outbound = leg({ fromUser: '+15550001111', toUser: 'bob', toHost: '198.51.100.20', extraHeaders: [`X-Account-Sid: ${acme}`] });

  await peer.sendCdr('attempt', 'network', tod(at('12:00:00.100200')), inbound.invite);
  await peer.sendCdr('start', 'application', tod(at('12:00:02.350000')), 'uas', inbound.ok);
  await peer.sendCdr('attempt', 'application', tod(at('12:00:00.300000')), outbound.invite);
  await peer.sendCdr('start', 'network', tod(at('12:00:02.300000')), 'uac', outbound.ok);
  t.equal(await eventually(async () => gauge(await scrape(daemon), 'calls_in_flight') === 2), true, 'two legs in flight, visible in /metrics');
  const inFlight = await redisDump(stores);
  t.ok(Object.values(inFlight).some((v) => v.includes(inbound.callId)), 'the legs are in Redis');
  t.same(Object.values(inFlight).filter(holdsSdp), [], 'in-flight state holds no SDP');
  t.notMatch(JSON.stringify(inFlight), new RegExp(`${beta}|Content-Type|application/sdp|branch=|SN123456789`),
    'nor a header outside the allow-list, nor X-Account-Sid from the network');
  await peer.sendCdr('stop', 'network', tod(at('12:01:05.900000')), 'normal-release', inbound.bye);
  await peer.sendCdr('stop', 'application', tod(at('12:01:05.950000')), 'normal-release', outbound.bye);

  const [a] = await waitRows(stores.pool, inbound.callId);
  t.match(a, {
    account_sid: acme, direction: 'inbound', from_user: '+15550001111', to_user: '+15551230000', remote_host: '203.0.113.7',
    duration: 63, answered: 1, sip_status: 200, termination_reason: 'normal-release', role: 'uas', user_agent: 'Acme-Phone/1.0',
  }, 'an X-Account-Sid from the network is ignored: the number decides');
  t.equal(iso(a.attempted_at), '2030-07-01T12:00:00.100Z');
  t.equal(iso(a.answered_at), '2030-07-01T12:00:02.350Z');
  t.equal(iso(a.terminated_at), '2030-07-01T12:01:05.900Z');
  const [b] = await waitRows(stores.pool, outbound.callId);
  t.match(b, { account_sid: acme, direction: 'outbound', to_user: 'bob', remote_host: '198.51.100.20', role: 'uac', duration: 63, answered: 1 });
  t.equal(await eventually(async () => gauge(await scrape(daemon), 'calls_in_flight') === 0), true, 'no leg left in flight');
});

t.test('proxy: one Call-ID, both INVITEs, both starts, one BYE: one row', async (t) => {
  const l = leg({ fromUser: 'alice', fromHost: 'carrier.example', toUser: '+15551230000', toHost: 'sbc.example', sourceIp: '203.0.113.8' });
  const forwarded = l.invite.replace(/^INVITE \S+/, 'INVITE sip:+15551230000@10.1.1.1:5080');
  await peer.sendCdr('attempt', 'network', tod(at('12:10:00.000000')), l.invite);
  await peer.sendCdr('attempt', 'application', tod(at('12:10:00.004000')), forwarded);
  await peer.sendCdr('start', 'network', tod(at('12:10:03.000000')), 'proxy-uac', l.ok);
  await peer.sendCdr('start', 'application', tod(at('12:10:03.001000')), 'proxy-uas', l.ok);
  await peer.sendCdr('stop', 'network', tod(at('12:10:13.500000')), 'normal-release', l.bye);
  const rows = await waitRows(stores.pool, l.callId);
  t.equal(rows.length, 1);
  t.match(rows[0], { account_sid: acme, direction: 'inbound', role: 'proxy', remote_host: '203.0.113.8', duration: 10, sip_status: 200 });
  t.equal(iso(rows[0].attempted_at), '2030-07-01T12:10:00.000Z', 'the earliest INVITE');
});

t.test('proxy rejected: two stops (from the target, then forwarded) make one row and one duplicate', async (t) => {
  const before = await metric(daemon.metrics.cdrsSkipped, { reason: 'duplicate' });
  const l = leg({ toUser: '+15551230000', sourceIp: '203.0.113.9' });
  await peer.sendCdr('attempt', 'network', tod(at('12:20:00.000000')), l.invite);
  await peer.sendCdr('attempt', 'application', tod(at('12:20:00.002000')), l.invite);
  await peer.sendCdr('stop', 'network', tod(at('12:20:01.000000')), 'call-rejected', l.final(486));
  await peer.sendCdr('stop', 'application', tod(at('12:20:01.001000')), 'call-rejected', l.final(486));
  const [r] = await waitRows(stores.pool, l.callId);
  t.match(r, { answered: 0, duration: 0, answered_at: null, sip_status: 486, termination_reason: 'call-rejected', role: null });
  t.equal(await waitMetric(daemon.metrics.cdrsSkipped, { reason: 'duplicate' }, before + 1), before + 1);
  t.equal((await rowsOf(stores.pool, l.callId)).length, 1);
});

t.test('rejected (486) and canceled (487) legs', async (t) => {
  const busy = leg({ toUser: '+15551230000', sourceIp: '203.0.113.10' });
  await unansweredLeg(peer, busy, 'inbound', 486, { attempt: at('12:30:00'), end: at('12:30:04.250') });
  const canceled = leg({ toUser: 'dave', toHost: '198.51.100.21', extraHeaders: [`X-Account-Sid: ${acme}`] });
  await unansweredLeg(peer, canceled, 'outbound', 487, { attempt: at('12:31:00'), end: at('12:31:09') });
  const [b] = await waitRows(stores.pool, busy.callId);
  t.match(b, { direction: 'inbound', answered: 0, duration: 0, sip_status: 486, termination_reason: 'call-rejected' });
  t.equal(iso(b.terminated_at), '2030-07-01T12:30:04.250Z');
  const [x] = await waitRows(stores.pool, canceled.callId);
  t.match(x, { direction: 'outbound', answered: 0, sip_status: 487, termination_reason: 'call-canceled', answered_at: null });
});

t.test('outbound legs resolved by sip_realm: Request-URI host, else From host', async (t) => {
  const toRealm = leg({ fromUser: 'alice', fromHost: '10.0.0.1', toUser: 'carol', toHost: 'beta.example' });
  const fromRealm = leg({ fromUser: 'alice', fromHost: 'beta.example', toUser: '+442071234567', toHost: '198.51.100.30' });
  await answeredLeg(peer, toRealm, 'outbound', { attempt: at('12:40:00'), answer: at('12:40:01'), end: at('12:40:31') });
  await answeredLeg(peer, fromRealm, 'outbound', { attempt: at('12:41:00'), answer: at('12:41:01'), end: at('12:41:02') });
  t.match((await waitRows(stores.pool, toRealm.callId))[0], { account_sid: beta, duration: 30 });
  t.match((await waitRows(stores.pool, fromRealm.callId))[0], { account_sid: beta, to_user: '+442071234567', duration: 1 });
});

t.test('no account: no row, counted, logged without personal data', async (t) => {
  const before = await metric(daemon.metrics.cdrsSkipped, { reason: 'unknown_account' });
  const l = leg({ fromUser: '+15556667777', fromHost: 'nowhere.example', toUser: '+19998887777', toHost: 'unknown.example', sourceIp: '203.0.113.66' });
  await answeredLeg(peer, l, 'inbound', { attempt: at('12:50:00'), answer: at('12:50:01'), end: at('12:50:02') });
  t.equal(await waitMetric(daemon.metrics.cdrsSkipped, { reason: 'unknown_account' }, before + 1), before + 1);
  t.same(await rowsOf(stores.pool, l.callId), []);
  const line = daemon.rawLogs.find((s) => s.includes('no account for call leg'));
  t.ok(line, 'logged');
  t.notMatch(line ?? '', /15556667777|19998887777|203\.0\.113\.66|nowhere\.example|unknown\.example/);
  t.notMatch(line ?? '', new RegExp(l.callId.replace(/[.@-]/g, '\\$&')), 'the Call-ID only as a keyed hash');
});

t.test('a call across midnight: dates come from the receiving clock', async (t) => {
  const l = leg({ toUser: '+15551230000', sourceIp: '203.0.113.11' });
  c.set(at('23:59:58'));
  await peer.sendCdr('attempt', 'network', '23:59:50.123456', l.invite);
  await peer.sendCdr('start', 'application', '23:59:55.000000', 'uas', l.ok);
  await eventually(async () => gauge(await scrape(daemon), 'calls_in_flight') === 1);
  c.set(at('00:00:30', '2030-07-02'));
  await peer.sendCdr('stop', 'network', '00:00:20.500000', 'normal-release', l.bye);
  const [r] = await waitRows(stores.pool, l.callId);
  t.equal(iso(r.attempted_at), '2030-07-01T23:59:50.123Z');
  t.equal(iso(r.answered_at), '2030-07-01T23:59:55.000Z');
  t.equal(iso(r.terminated_at), '2030-07-02T00:00:20.500Z');
  t.equal(r.duration, 25);
  const [[p]] = await stores.pool.query(`SELECT COUNT(*) AS n FROM cdrs PARTITION (p20300701) WHERE sip_callid = ?`, [l.callId]) as unknown as [{ n: number }[]];
  t.equal(Number(p.n), 1, 'stored in the partition of the day it was attempted');

  // Stamped just before midnight, received after it: still the previous day.
  const late = leg({ toUser: '+15551230000', sourceIp: '203.0.113.14' });
  await peer.sendCdr('attempt', 'network', '23:59:59.800000', late.invite);
  await peer.sendCdr('stop', 'application', '00:00:05.000000', 'call-rejected', late.final(480));
  const [r2] = await waitRows(stores.pool, late.callId);
  t.equal(iso(r2.attempted_at), '2030-07-01T23:59:59.800Z');
  t.equal(iso(r2.terminated_at), '2030-07-02T00:00:05.000Z');
  c.set(at('12:00:00'));
});

t.test('malformed events are counted, never crash the daemon, and a good call still lands', async (t) => {
  const invalidBefore = await metric(daemon.metrics.cdrsSkipped, { reason: 'invalid' });
  const dupBefore = await metric(daemon.metrics.cdrsSkipped, { reason: 'duplicate' });
  const orphanBefore = await metric(daemon.metrics.cdrsSkipped, { reason: 'stop_without_attempt' });
  const l = leg({ toUser: '+15551230000' });
  const noCallId = l.invite.replace(/^Call-ID:.*\r\n/m, '');
  await peer.sendCdr('attempt', 'network', tod(at('13:00:00')), noCallId);
  await peer.sendCdr('attempt', 'network', 'not-a-time', l.invite);
  await peer.sendCdr('attempt', 'network', '', l.invite);
  await peer.sendCdr('attempt', 'somewhere' as 'network', tod(at('13:00:00')), l.invite);
  await peer.sendCdr('attempt', 'network', tod(at('13:00:00')), '');
  await peer.sendCdr('attempt', 'network', tod(at('13:00:00')), l.ok);
  await peer.sendCdr('start', 'network', tod(at('13:00:00')), 'b2bua' as 'uac', l.ok);
  await peer.sendCdr('stop', 'network', tod(at('13:00:00')), 'hangup', l.bye);
  await peer.sendCdr('stop', 'network', tod(at('13:00:00')), '', l.bye);
  await peer.sendCdr('stop', 'network', tod(at('13:00:01')), 'normal-release', leg().bye); // no attempt, ever
  const dup = leg({ toUser: '+15551230000', sourceIp: '203.0.113.12' });
  await peer.sendCdr('attempt', 'network', tod(at('13:01:00')), dup.invite);
  await peer.sendCdr('attempt', 'network', tod(at('13:01:00')), dup.invite); // replayed
  await peer.sendCdr('stop', 'application', tod(at('13:01:02')), 'call-rejected', dup.final(480));
  t.equal(await waitMetric(daemon.metrics.cdrsSkipped, { reason: 'invalid' }, invalidBefore + 9), invalidBefore + 9, 'nine invalid events');
  t.equal(await waitMetric(daemon.metrics.cdrsSkipped, { reason: 'stop_without_attempt' }, orphanBefore + 1), orphanBefore + 1);
  t.equal(await waitMetric(daemon.metrics.cdrsSkipped, { reason: 'duplicate' }, dupBefore + 1), dupBefore + 1);
  t.equal((await waitRows(stores.pool, dup.callId)).length, 1, 'the replayed attempt made no second row');

  const good = leg({ toUser: '+15551230000', sourceIp: '203.0.113.13' });
  await answeredLeg(peer, good, 'inbound', { attempt: at('13:02:00'), answer: at('13:02:01'), end: at('13:02:11') });
  t.match((await waitRows(stores.pool, good.callId))[0], { account_sid: acme, duration: 10 });
  t.equal(peer.routesOf('cdr:stop'), 1, 'still connected and subscribed');
});

t.test('no SDP, no number or address at info level, and no SDP anywhere in MySQL or Redis', async (t) => {
  t.ok(holdsSdp(leg().invite) && holdsSdp(leg().ok), 'the events carried SDP (the check can see it)');
  const stored = [...Object.entries(await redisDump(stores)).flat(), ...(await mysqlDump(stores.pool))];
  t.ok(stored.length > 10, 'there is something to search');
  t.same(stored.filter(holdsSdp), []);
  const logs = daemon.rawLogs.join('\n');
  t.notOk(holdsSdp(logs), 'no SDP in logs');
  for (const secret of ['+15550001111', '15551230000', '203.0.113.7', '198.51.100.20', 'alice', 'carol']) {
    t.notOk(logs.includes(secret), `logs do not mention ${secret}`);
  }
});
