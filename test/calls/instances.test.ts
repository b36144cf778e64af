// Correlation lives in Redis: events of one call dealt round-robin to two daemons, or a daemon
// restarted mid-call, still make exactly one row per leg.
import t from 'tap';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, provision, type Stores } from '../helpers/harness.js';
import { cdrDaemon, clock, leg, metric, redisDump, rowsOf, tod, waitMetric, waitRows } from './helpers.js';

const at = (hms: string) => `2030-09-01T${hms}Z`;
const c = clock(at('10:00:00'));
let stores: Stores;
let peer: DrachtioPeer;
t.before(async () => {
  stores = await freshStores('calls_instances');
  peer = await DrachtioPeer.listen();
});
t.teardown(async () => {
  await peer.close();
  await stores.close();
});

t.test('two daemons: each call\'s events split between them, one row per leg', async (t) => {
  // A routes first, so every verb's round-robin list is [A, B]: events alternate A, B, A, …
  const a = await cdrDaemon(stores, peer, { now: c.now, clients: 1 });
  const b = await cdrDaemon(stores, peer, { now: c.now, clients: 2 });
  t.teardown(async () => { await a.close(); await b.close(); });
  await provision(stores.pool, { realm: 'multi.example', numbers: ['+15554440000'] });

  const one = leg({ toUser: '+15554440000', sourceIp: '203.0.113.30' });
  const two = leg({ toUser: '+15554440000', sourceIp: '203.0.113.31' });
  await peer.sendCdr('attempt', 'network', tod(at('10:00:01')), one.invite); // A
  await peer.sendCdr('attempt', 'network', tod(at('10:00:02')), two.invite); // B
  await peer.sendCdr('start', 'application', tod(at('10:00:03')), 'uas', one.ok); // A
  await peer.sendCdr('start', 'application', tod(at('10:00:04')), 'uas', two.ok); // B
  await peer.sendCdr('stop', 'network', tod(at('10:00:15')), 'normal-release', two.bye); // A: two's attempt was on B
  await peer.sendCdr('stop', 'network', tod(at('10:00:21')), 'normal-release', one.bye); // B: one's attempt was on A

  // A proxied call rejected by its target: its two INVITEs and its two stops reach different daemons.
  const proxied = leg({ toUser: '+15554440000', sourceIp: '203.0.113.32' });
  await peer.sendCdr('attempt', 'network', tod(at('10:01:00')), proxied.invite); // A
  await peer.sendCdr('attempt', 'application', tod(at('10:01:00.005')), proxied.invite); // B
  // Sent in order is not applied in order across two daemons: were B's stop applied before A's attempt, the
  // leg would end with the application side alone. drachtio-server's stops come a call later; so here.
  await eventually(async () => Object.values(await redisDump(stores)).some((v) => v.includes('"a:network"') && v.includes('"a:application"')),
    8000, 25, 'a leg in Redis holding both attempts of the proxied call');
  await peer.sendCdr('stop', 'network', tod(at('10:01:02')), 'call-rejected', proxied.final(404)); // A
  await peer.sendCdr('stop', 'application', tod(at('10:01:02.001')), 'call-rejected', proxied.final(404)); // B

  // A stop overtaking its attempt: it reaches A before B has recorded the attempt.
  const late = leg({ toUser: '+15554440000', sourceIp: '203.0.113.34' });
  const other = leg({ toUser: '+15554440000', sourceIp: '203.0.113.35' });
  await peer.sendCdr('stop', 'application', tod(at('10:02:01')), 'call-rejected', late.final(486)); // A
  await waitMetric(a.metrics.cdrEvents, { type: 'stop' }, 3); // A holds late's stop (its third)
  await peer.sendCdr('attempt', 'network', tod(at('10:02:00')), other.invite); // A
  await peer.sendCdr('attempt', 'network', tod(at('10:02:00')), late.invite); // B
  await peer.sendCdr('stop', 'application', tod(at('10:02:01')), 'call-rejected', other.final(486)); // B
  t.match((await waitRows(stores.pool, late.callId))[0], { sip_status: 486, answered: 0 }, 'the stop waited for its attempt');
  t.equal((await waitRows(stores.pool, other.callId)).length, 1);

  const [r1] = await waitRows(stores.pool, one.callId);
  const [r2] = await waitRows(stores.pool, two.callId);
  const [r3] = await waitRows(stores.pool, proxied.callId);
  t.match(r1, { duration: 18, answered: 1, role: 'uas', remote_host: '203.0.113.30' });
  t.match(r2, { duration: 11, answered: 1, role: 'uas', remote_host: '203.0.113.31' });
  t.match(r3, { answered: 0, sip_status: 404, direction: 'inbound' });
  for (const d of [a, b]) {
    t.equal(await metric(d.metrics.cdrEvents, { type: 'attempt' }), 3, 'each daemon got three attempts');
    t.equal(await metric(d.metrics.cdrEvents, { type: 'start' }), 1, 'and one start');
    t.equal(await metric(d.metrics.cdrEvents, { type: 'stop' }), 3, 'and three stops');
  }
  const dups = async () => (await metric(a.metrics.cdrsSkipped, { reason: 'duplicate' })) + (await metric(b.metrics.cdrsSkipped, { reason: 'duplicate' }));
  await eventually(async () => (await dups()) >= 1);
  t.equal(await dups(), 1, 'the proxied call\'s second stop is a duplicate');
  for (const id of [one.callId, two.callId, proxied.callId]) t.equal((await rowsOf(stores.pool, id)).length, 1, 'exactly one row');
  t.equal(await metric(a.metrics.cdrsSkipped, { reason: 'stop_without_attempt' }) + await metric(b.metrics.cdrsSkipped, { reason: 'stop_without_attempt' }), 0);
});

t.test('a proxied call rejected before its network attempt is applied: one row, from the network side', async (t) => {
  // Across two instances the INVITE from the network (sent first) can be applied a moment after the application
  // side's attempt and both stops reached the other instance. One daemon, the network attempt sent last, is that.
  const d = await cdrDaemon(stores, peer, { now: c.now });
  t.teardown(() => d.close());
  await provision(stores.pool, { realm: 'proxy-race.example', numbers: ['+15554440001'] });
  const l = leg({ toUser: '+15554440001', sourceIp: '203.0.113.40' });
  await peer.sendCdr('attempt', 'application', tod(at('10:03:00.005')), l.invite);
  await peer.sendCdr('stop', 'network', tod(at('10:03:01')), 'call-rejected', l.final(404)); // the target's answer
  await peer.sendCdr('stop', 'application', tod(at('10:03:01.001')), 'call-rejected', l.final(404)); // forwarded
  await new Promise((r) => setTimeout(r, 60));
  await peer.sendCdr('attempt', 'network', tod(at('10:03:00')), l.invite);
  await waitRows(stores.pool, l.callId);
  // Both stops handled (the target's answer kept as a duplicate, the forwarded one ending the leg): then count.
  await waitMetric(d.metrics.cdrsSkipped, { reason: 'duplicate' }, 1);
  const rows = await rowsOf(stores.pool, l.callId);
  t.equal(rows.length, 1, 'one row');
  t.match(rows[0], { direction: 'inbound', answered: 0, sip_status: 404, remote_host: '203.0.113.40' }, 'with the caller\'s side: inbound, its address');
});

t.test('a daemon restarted between start and stop: one row', async (t) => {
  const first = await cdrDaemon(stores, peer, { now: c.now });
  const l = leg({ toUser: '+15554440000', sourceIp: '203.0.113.33' });
  await peer.sendCdr('attempt', 'network', tod(at('11:00:00')), l.invite);
  await peer.sendCdr('start', 'application', tod(at('11:00:02')), 'uas', l.ok);
  await first.close(); // flushes pending events to Redis, then lets go
  const second = await cdrDaemon(stores, peer, { now: c.now });
  t.teardown(() => second.close());
  await peer.sendCdr('stop', 'network', tod(at('11:00:32')), 'normal-release', l.bye);
  const [r] = await waitRows(stores.pool, l.callId);
  t.match(r, { answered: 1, duration: 30, role: 'uas' });
  t.equal(await metric(second.metrics.cdrEvents, { type: 'attempt' }), 0, 'the new process never saw the attempt');
});
