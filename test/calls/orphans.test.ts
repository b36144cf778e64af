// Legs whose end drachtio-server never reports (a B2BUA call canceled after 100 Trying, drachtio-server
// dying while a call rings, a lost stop, a BYE that never comes) end in exactly one row, termination_reason
// `not-reported`, counted — on one daemon or several sweeping at once — and never one for an opted-out account.
import t from 'tap';
import { legId } from '../../lib/calls/correlate.js';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { CALL_SHAPES, playCall } from '../peer/cdr-calls.js';
import { eventually, freshStores, provision, type Daemon, type Stores } from '../helpers/harness.js';
import { cdrDaemon, clock, gauge, leg, metric, redisDump, rowsOf, scrape, tod, waitMetric, waitRows } from './helpers.js';

const NUMBER = '+15557770002';
const QUIET = '+15557770003';
const c = clock('2030-07-04T10:00:00Z');
const ORPHAN_S = 2;
const TTL_S = 60;
const env = { CDR_ORPHAN_TIMEOUT_SECONDS: String(ORPHAN_S), CDR_CALL_STATE_TTL_SECONDS: String(TTL_S) };
let stores: Stores;
let peer: DrachtioPeer;
let d: Daemon;
let account = '';

t.before(async () => {
  stores = await freshStores('calls_orphans');
  peer = await DrachtioPeer.listen();
  d = await cdrDaemon(stores, peer, { now: c.now, env });
  account = await provision(stores.pool, { realm: 'orphans.example', numbers: [NUMBER] });
  await provision(stores.pool, { realm: 'quiet.example', numbers: [QUIET], disableCdrs: true });
});
t.teardown(async () => {
  await d.close();
  await peer.close();
  await stores.close();
});

const now = () => tod(new Date(c.ms).toISOString());
const inFlight = async (dm: Daemon = d) => gauge(await scrape(dm), 'calls_in_flight');
const orphans = (kind: string, dm: Daemon = d) => metric(dm.metrics.cdrOrphans, { kind });

t.test('an unanswered leg nobody ends: one row after CDR_ORPHAN_TIMEOUT_SECONDS; an answered one waits for the state TTL', async (t) => {
  const A = leg({ fromUser: 'ann', toUser: NUMBER, sourceIp: '203.0.113.50' });
  const B = leg({ fromUser: 'ann', toUser: NUMBER, toHost: '198.51.100.50' });
  const talking = leg({ fromUser: 'tom', toUser: NUMBER, sourceIp: '203.0.113.51' });
  const attemptedAt = c.ms;
  await playCall(peer, CALL_SHAPES['b2bua: canceled after 100'], { A, B }, now);
  await peer.sendCdr('attempt', 'network', now(), talking.invite);
  await peer.sendCdr('start', 'application', now(), 'uas', talking.ok);
  t.equal((await waitRows(stores.pool, B.callId)).length, 1, 'the outbound leg ended by its stop');
  t.equal(await eventually(async () => (await inFlight()) === 2), true, 'the inbound leg and the answered call in flight');
  t.same(await rowsOf(stores.pool, A.callId), [], 'not before the orphan timeout');

  c.ms += (ORPHAN_S + 1) * 1000;
  const [row] = await waitRows(stores.pool, A.callId);
  t.match(row, {
    account_sid: account, direction: 'inbound', answered: 0, answered_at: null, duration: 0, sip_status: null,
    termination_reason: 'not-reported', role: null, from_user: 'ann', remote_host: '203.0.113.50',
  });
  t.equal((row!.terminated_at as Date).getTime(), attemptedAt, 'terminated_at: the last moment known of it');
  t.equal(await orphans('unanswered'), 1, 'counted');
  t.equal(await inFlight(), 1, 'the answered call is still in flight: it waits for the state TTL');
  t.same(await rowsOf(stores.pool, talking.callId), []);
  const line = d.logs.find((l) => String(l.msg).includes('never reported'));
  t.match(line, { level: 'info', unanswered: 1, answered: 0 }, 'an info line with counts');
  t.notMatch(JSON.stringify(line), /ann|203\.0\.113|15557770002/, 'and no personal data');

  c.ms += TTL_S * 1000;
  const [r2] = await waitRows(stores.pool, talking.callId);
  t.match(r2, { answered: 1, sip_status: 200, termination_reason: 'not-reported', role: 'uas', duration: 0 });
  t.equal((r2!.terminated_at as Date).getTime(), (r2!.answered_at as Date).getTime(), 'ended at the last moment known: its answer');
  t.equal(await waitMetric(d.metrics.cdrOrphans, { kind: 'answered' }, 1), 1);
  t.equal(await eventually(async () => (await inFlight()) === 0), true, 'nothing left in flight');
  const keys = Object.keys(await redisDump(stores)).filter((k) => k.includes('cdr:leg'));
  t.same(keys, [], 'no leg state left');
});

t.test('a proxy target\'s answer whose forwarded stop never comes: the last status seen; a late stop is a duplicate', async (t) => {
  const l = leg({ toUser: NUMBER, sourceIp: '203.0.113.52' });
  const events = CALL_SHAPES['proxy: 486 from the target'].slice(0, 3); // the forwarded 486 is lost
  await playCall(peer, events, { A: l }, now);
  t.equal(await eventually(async () => (await inFlight()) === 1), true, 'the target\'s 486 did not end the leg');
  c.ms += (ORPHAN_S + 1) * 1000;
  const [row] = await waitRows(stores.pool, l.callId);
  t.match(row, { answered: 0, sip_status: 486, termination_reason: 'not-reported', direction: 'inbound' });
  const dupBefore = await metric(d.metrics.cdrsSkipped, { reason: 'duplicate' });
  await playCall(peer, CALL_SHAPES['proxy: 486 from the target'].slice(3), { A: l }, now);
  t.equal(await waitMetric(d.metrics.cdrsSkipped, { reason: 'duplicate' }, dupBefore + 1), dupBefore + 1, 'the late stop is a duplicate');
  t.equal((await rowsOf(stores.pool, l.callId)).length, 1, 'still one row');
});

t.test('an opted-out account\'s orphan: no row, no key left, counted as opted out', async (t) => {
  const l = leg({ toUser: QUIET, sourceIp: '203.0.113.53' });
  const optedBefore = await metric(d.metrics.cdrsSkipped, { reason: 'opted_out' });
  const before = await orphans('unanswered');
  await peer.sendCdr('attempt', 'network', now(), l.invite);
  t.equal(await eventually(async () => (await inFlight()) === 1), true);
  c.ms += (ORPHAN_S + 1) * 1000;
  t.equal(await waitMetric(d.metrics.cdrsSkipped, { reason: 'opted_out' }, optedBefore + 1), optedBefore + 1);
  t.equal(await orphans('unanswered'), before + 1);
  t.same(await rowsOf(stores.pool, l.callId), []);
  t.same(Object.keys(await redisDump(stores)).filter((k) => k.endsWith(legId(l.callId))), [], 'no state, no tombstone');
  t.equal(await inFlight(), 0);
});

t.test('two daemons sweeping at once: exactly one row per orphaned leg', async (t) => {
  const other = await cdrDaemon(stores, peer, { now: c.now, env, clients: 2 });
  t.teardown(() => other.close());
  const legs = Array.from({ length: 40 }, (_, i) => leg({ fromUser: `u${i}`, toUser: NUMBER, sourceIp: '203.0.113.54' }));
  for (const l of legs) await peer.sendCdr('attempt', 'network', now(), l.invite);
  t.equal(await eventually(async () => (await inFlight()) === 40), true, '40 legs in flight');
  const before = (await orphans('unanswered')) + (await orphans('unanswered', other));
  c.ms += (ORPHAN_S + 1) * 1000;
  for (const l of legs) t.equal((await waitRows(stores.pool, l.callId)).length, 1, `one row for ${l.callId}`);
  t.equal(await eventually(async () => (await inFlight()) === 0), true);
  t.equal((await orphans('unanswered')) + (await orphans('unanswered', other)) - before, 40, 'each counted once, by one daemon');
  const [[n]] = await stores.pool.query(`SELECT COUNT(*) AS n FROM cdrs WHERE from_user LIKE 'u%'`) as unknown as [{ n: number }[]];
  t.equal(Number(n!.n), 40, 'no second row for any of them');
});
