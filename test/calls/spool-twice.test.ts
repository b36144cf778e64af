// Can a leg be spooled twice? No: finish.lua ends a leg and appends its row in one step, and a second
// finish (another instance, a resent command) finds the leg gone and its tombstone there. What a test
// once counted as a fifth spooled row was a row MySQL had already committed while the writer had not
// yet trimmed it from the spool; here that moment is held open (MySQL's reply to the INSERT kept back),
// the connection is then cut, and the row is written again: still one row, counted as a duplicate.
import t from 'tap';
import { createSpool } from '../../lib/calls/spool.js';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, provision, type Stores } from '../helpers/harness.js';
import { startCutProxy, type CutProxy } from '../helpers/tcp-proxy.js';
import { cdrDaemon, clock, leg, metric, rowsOf, unansweredLeg, waitRows } from './helpers.js';

const at = (hms: string) => `2030-10-02T${hms}Z`;
const c = clock(at('08:00:00'));
let stores: Stores;
let peer: DrachtioPeer;
let proxy: CutProxy;

t.before(async () => {
  stores = await freshStores('calls_spool_twice');
  peer = await DrachtioPeer.listen();
  proxy = await startCutProxy(3306);
});
t.teardown(async () => {
  await peer.close();
  await proxy.close();
  await stores.close();
});

const spooled = async () => {
  const rows: string[] = [];
  for (const s of createSpool(stores.redis, stores.prefix, 1).shards) rows.push(...(await stores.redis.lrange(s.key, 0, -1)));
  return rows.map((j) => (JSON.parse(j) as { callId: string }).callId);
};

t.test('a row in MySQL and still in the spool is one row, written again after a lost reply', async (t) => {
  const d = await cdrDaemon(stores, peer, { now: c.now, env: { MYSQL_URL: proxy.mysqlUrl(stores.database) } });
  t.teardown(() => d.close());
  await provision(stores.pool, { realm: 'twice.example', numbers: ['+15558880000'] });
  proxy.holdRepliesAfter('INSERT IGNORE INTO cdrs');
  const l = leg({ toUser: '+15558880000', sourceIp: '203.0.113.80' });
  await unansweredLeg(peer, l, 'inbound', 486, { attempt: at('08:00:01'), end: at('08:00:02') });
  await waitRows(stores.pool, l.callId);
  t.same(await spooled(), [l.callId], 'committed in MySQL, its reply held back: the row is still in the spool, once');

  proxy.cut(); // the writer's INSERT fails for want of a reply: its batch is not trimmed
  proxy.restore();
  await eventually(async () => (await spooled()).length === 0, 10_000, 25, 'the spool to drain');
  t.equal((await rowsOf(stores.pool, l.callId)).length, 1, 'inserted again, still exactly one row');
  t.equal(await metric(d.metrics.cdrsSkipped, { reason: 'duplicate' }), 1, 'the second insert counted as a duplicate');
  t.equal(await metric(d.metrics.cdrsWritten), 0, 'and not counted as written: its first insert was never acknowledged');
});
