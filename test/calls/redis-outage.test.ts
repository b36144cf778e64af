// Redis unreachable while CDR events arrive (a real TCP proxy in front of the shared Redis, cut and
// restored): events wait in memory, in order, and are applied when Redis returns; what a shutdown
// during the outage loses is counted.
import t from 'tap';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, provision, type Stores } from '../helpers/harness.js';
import { answeredLeg, cdrDaemon, clock, leg, metric, tod, waitMetric, waitRows } from './helpers.js';
import { startCutProxy, type CutProxy } from '../helpers/tcp-proxy.js';

const at = (hms: string) => `2030-11-01T${hms}Z`;
const c = clock(at('07:00:00'));
let stores: Stores;
let peer: DrachtioPeer;
let proxy: CutProxy;
t.before(async () => {
  stores = await freshStores('calls_redis_outage');
  peer = await DrachtioPeer.listen();
  proxy = await startCutProxy(6379);
});
t.teardown(async () => {
  await peer.close();
  await proxy.close();
  await stores.close();
});

const start = () => cdrDaemon(stores, peer, { now: c.now, env: { REDIS_URL: proxy.redisUrl(), SHUTDOWN_TIMEOUT_MS: '1000' } });

t.test('events arriving while Redis is down are applied when it returns: nothing lost', async (t) => {
  const d = await start();
  t.teardown(() => d.close());
  await provision(stores.pool, { realm: 'r.example', numbers: ['+15551110000'] });
  proxy.cut();
  await eventually(() => d.logs.some((l) => String(l.msg).startsWith('CDR Redis connection lost')));
  const legs = [leg({ toUser: '+15551110000', sourceIp: '203.0.113.70' }), leg({ toUser: '+15551110000', sourceIp: '203.0.113.71' })];
  await answeredLeg(peer, legs[0], 'inbound', { attempt: at('07:00:01'), answer: at('07:00:02'), end: at('07:00:12') });
  await answeredLeg(peer, legs[1], 'inbound', { attempt: at('07:00:03'), answer: at('07:00:04'), end: at('07:00:24') });
  await waitMetric(d.metrics.cdrEvents, { type: 'stop' }, 2); // every event received, none applicable
  t.same((await stores.pool.query('SELECT COUNT(*) AS n FROM cdrs'))[0], [{ n: 0 }], 'nothing could be recorded yet');
  proxy.restore();
  t.match((await waitRows(stores.pool, legs[0].callId, 1, 15_000))[0], { duration: 10, answered: 1 });
  t.match((await waitRows(stores.pool, legs[1].callId, 1, 15_000))[0], { duration: 20, answered: 1 });
  t.equal(await metric(d.metrics.cdrsSkipped, { reason: 'redis_unavailable' }), 0);
  t.equal(await metric(d.metrics.cdrsSkipped, { reason: 'stop_without_attempt' }), 0);
});

t.test('a shutdown while Redis is still down counts the events it had to give up', async (t) => {
  const d = await start();
  proxy.cut();
  await eventually(() => d.logs.some((l) => String(l.msg).startsWith('CDR Redis connection lost')));
  const l = leg({ toUser: '+15551110000', sourceIp: '203.0.113.72' });
  await peer.sendCdr('attempt', 'network', tod(at('07:10:00')), l.invite);
  await peer.sendCdr('start', 'application', tod(at('07:10:01')), 'uas', l.ok);
  await waitMetric(d.metrics.cdrEvents, { type: 'start' }, 1);
  await d.close();
  t.equal(await waitMetric(d.metrics.cdrsSkipped, { reason: 'redis_unavailable' }, 2), 2, 'both held events counted as lost');
  proxy.restore();
});
