// MySQL unreachable while calls end (a real TCP proxy in front of the shared MariaDB, cut and
// restored): rows wait in the Redis spool, survive a restart, and are all written when it returns.
import t from 'tap';
import { CALL_SHARDS, legId } from '../../lib/calls/correlate.js';
import { createSpool } from '../../lib/calls/spool.js';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, provision, type Daemon, type Stores } from '../helpers/harness.js';
import {
  answeredLeg, cdrDaemon, clock, gauge, holdsSdp, leg, metric, redisDump, rowsOf, scrape, unansweredLeg, waitMetric, waitRows,
} from './helpers.js';
import { startCutProxy, type CutProxy } from '../helpers/tcp-proxy.js';

const at = (hms: string) => `2030-10-01T${hms}Z`;
const c = clock(at('08:00:00'));
let stores: Stores;
let peer: DrachtioPeer;
let proxy: CutProxy;
const sid = { warm: '', cold: '', quiet: '' };

t.before(async () => {
  stores = await freshStores('calls_outage');
  peer = await DrachtioPeer.listen();
  proxy = await startCutProxy(3306);
});
t.teardown(async () => {
  await peer.close();
  await proxy.close();
  await stores.close();
});

const start = (env: Record<string, string> = {}) =>
  cdrDaemon(stores, peer, { now: c.now, env: { MYSQL_URL: proxy.mysqlUrl(stores.database), CDR_ACCOUNT_CACHE_MS: '5000', ...env } });
const spoolDepth = () => createSpool(stores.redis, stores.prefix, 1).depth();

t.test('calls ending during an outage: spooled, kept across a restart, all written when MySQL returns', async (t) => {
  const a = await start();
  sid.warm = await provision(stores.pool, { realm: 'warm.example', numbers: ['+15556660000'] });
  sid.cold = await provision(stores.pool, { realm: 'cold.example' });
  sid.quiet = await provision(stores.pool, { realm: 'quiet.example', numbers: ['+15556660001'], disableCdrs: true });
  const before = leg({ toUser: '+15556660000', sourceIp: '203.0.113.40' });
  await answeredLeg(peer, before, 'inbound', { attempt: at('08:00:01'), answer: at('08:00:02'), end: at('08:00:03') });
  await waitRows(stores.pool, before.callId);
  // The row is in MySQL a moment before the writer trims it from the spool (spool-twice.test.ts):
  // cut only once it is gone from the spool, or the count below would include it.
  await eventually(async () => (await spoolDepth()) === 0, 8000, 25, 'the writer to trim the row it wrote');

  proxy.cut();
  const warm = leg({ toUser: '+15556660000', sourceIp: '203.0.113.41' });
  const cold = leg({ fromUser: 'ann', fromHost: '10.0.0.1', toUser: 'bo', toHost: 'cold.example' });
  const quiet = leg({ toUser: '+15556660001', sourceIp: '203.0.113.42' });
  const nobody = leg({ toUser: '+15550000000', toHost: 'nowhere.example', sourceIp: '203.0.113.43' });
  await answeredLeg(peer, warm, 'inbound', { attempt: at('08:01:00'), answer: at('08:01:01'), end: at('08:01:31') });
  await answeredLeg(peer, cold, 'outbound', { attempt: at('08:02:00'), answer: at('08:02:01'), end: at('08:02:11') });
  await answeredLeg(peer, quiet, 'inbound', { attempt: at('08:03:00'), answer: at('08:03:01'), end: at('08:03:02') });
  await unansweredLeg(peer, nobody, 'inbound', 404, { attempt: at('08:04:00'), end: at('08:04:01') });
  t.equal(await eventually(async () => (await spoolDepth()) === 4), true, 'four rows held in the Redis spool');
  t.equal(gauge(await scrape(a), 'cdr_spool_depth'), 4, 'spool depth visible in /metrics');
  t.same(Object.values(await redisDump(stores)).filter(holdsSdp), [], 'spooled rows hold no SDP');
  for (const l of [warm, cold, quiet, nobody]) t.same(await rowsOf(stores.pool, l.callId), [], 'nothing reached MySQL');

  await a.close(); // its flush cannot write: the rows stay in Redis
  t.equal(await spoolDepth(), 4, 'the spool survives the daemon');

  proxy.restore();
  const b = await start();
  t.teardown(() => b.close());
  t.match((await waitRows(stores.pool, warm.callId))[0], { account_sid: sid.warm, duration: 30 });
  t.match((await waitRows(stores.pool, cold.callId))[0], { account_sid: sid.cold, direction: 'outbound', duration: 10 });
  t.equal(await waitMetric(b.metrics.cdrsSkipped, { reason: 'opted_out' }, 1), 1, 'opt-out applied when the row was finally resolved');
  t.equal(await waitMetric(b.metrics.cdrsSkipped, { reason: 'unknown_account' }, 1), 1);
  t.same(await rowsOf(stores.pool, quiet.callId), []);
  t.same(await rowsOf(stores.pool, nobody.callId), []);
  t.equal(await eventually(async () => (await spoolDepth()) === 0), true, 'spool drained');
  t.equal(await metric(b.metrics.cdrsWritten), 2);
});

t.test('a full spool drops the newest rows, counted as spool_full', async (t) => {
  // CDR_SPOOL_MAX is spread over the call shards (2 rows each here): three legs of one shard.
  const d = await start({ CDR_SPOOL_MAX: String(2 * CALL_SHARDS.count) });
  t.teardown(() => d.close());
  proxy.cut();
  const legs: ReturnType<typeof leg>[] = [];
  while (legs.length < 3) {
    const l = leg({ toUser: '+15556660000', sourceIp: `203.0.113.5${legs.length + 1}` });
    if (legs.length === 0 || CALL_SHARDS.tagOf(legId(l.callId)) === CALL_SHARDS.tagOf(legId(legs[0]!.callId))) legs.push(l);
  }
  for (const [i, l] of legs.entries()) {
    await unansweredLeg(peer, l, 'inbound', 486, { attempt: at(`09:0${i}:00`), end: at(`09:0${i}:01`) });
    if (i < 2) await eventually(async () => (await spoolDepth()) === i + 1);
  }
  t.equal(await waitMetric(d.metrics.cdrsSkipped, { reason: 'spool_full' }, 1), 1);
  t.equal(await spoolDepth(), 2);
  t.ok(d.rawLogs.some((l) => l.includes('CDR spool full')), 'logged as an error');
  proxy.restore();
  await waitRows(stores.pool, legs[0].callId);
  await waitRows(stores.pool, legs[1].callId);
  t.equal(await eventually(async () => (await spoolDepth()) === 0), true);
  t.same(await rowsOf(stores.pool, legs[2].callId), [], 'the newest row was the one dropped');
});

t.test('shutdown flushes: rows spooled before close are in MySQL when close returns', async (t) => {
  let d: Daemon | null = await start();
  t.teardown(() => d?.close());
  proxy.cut();
  const l = leg({ toUser: '+15556660000', sourceIp: '203.0.113.60' });
  await answeredLeg(peer, l, 'inbound', { attempt: at('10:00:00'), answer: at('10:00:01'), end: at('10:00:09') });
  await eventually(async () => (await spoolDepth()) === 1);
  proxy.restore();
  await d.close();
  d = null;
  t.equal((await rowsOf(stores.pool, l.callId)).length, 1);
  t.equal(await spoolDepth(), 0);
});
