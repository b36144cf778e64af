// Accounts that opted out of CDRs: no row and no Redis key, decided as the leg ends, honouring a
// change made directly in the database within CDR_ACCOUNT_CACHE_MS.
import t from 'tap';
import { createCallState } from '../../lib/calls/correlate.js';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { freshStores, provision, type Stores } from '../helpers/harness.js';
import {
  answeredLeg, cdrDaemon, clock, leg, metric, redisDump, rowsOf, tod, unansweredLeg, waitMetric, waitRows,
} from './helpers.js';

const at = (hms: string) => `2030-08-01T${hms}Z`;
const c = clock(at('09:00:00'));
let stores: Stores;
let peer: DrachtioPeer;
t.before(async () => {
  stores = await freshStores('calls_opt_out');
  peer = await DrachtioPeer.listen();
});
t.teardown(async () => {
  await peer.close();
  await stores.close();
});

t.test('an opted-out account: zero rows, and zero Redis keys once its calls are over', async (t) => {
  const daemon = await cdrDaemon(stores, peer, { now: c.now });
  const sid = await provision(stores.pool, { realm: 'quiet.example', numbers: ['+15552220000'], disableCdrs: true });
  const answered = leg({ fromUser: '+15550009999', toUser: '+15552220000', sourceIp: '203.0.113.20' });
  const rejected = leg({ fromUser: 'bob', fromHost: 'quiet.example', toUser: 'x', toHost: '198.51.100.9', extraHeaders: [`X-Account-Sid: ${sid}`] });
  await answeredLeg(peer, answered, 'inbound', { attempt: at('09:00:01'), answer: at('09:00:02'), end: at('09:00:40') });
  await unansweredLeg(peer, rejected, 'outbound', 603, { attempt: at('09:00:03'), end: at('09:00:04') });
  t.equal(await waitMetric(daemon.metrics.cdrsSkipped, { reason: 'opted_out' }, 2), 2);
  await daemon.close();
  t.same(await rowsOf(stores.pool, answered.callId), []);
  t.same(await rowsOf(stores.pool, rejected.callId), []);
  t.same(await redisDump(stores), {}, 'no leg state, no tombstone, no spool entry, no index entry');
});

t.test('opt-out switched on in the database mid-call: no row for the call', async (t) => {
  const daemon = await cdrDaemon(stores, peer, { now: c.now, env: { CDR_ACCOUNT_CACHE_MS: '2000' } });
  t.teardown(() => daemon.close());
  const sid = await provision(stores.pool, { realm: 'fickle.example', numbers: ['+15553330000'] });
  const calls = createCallState(stores.redis, stores.prefix, 60);

  // A first call caches the account as opted in.
  const first = leg({ toUser: '+15553330000', sourceIp: '203.0.113.21' });
  await answeredLeg(peer, first, 'inbound', { attempt: at('09:10:00'), answer: at('09:10:01'), end: at('09:10:05') });
  t.equal((await waitRows(stores.pool, first.callId)).length, 1);

  const second = leg({ toUser: '+15553330000', sourceIp: '203.0.113.21' });
  await peer.sendCdr('attempt', 'network', tod(at('09:11:00')), second.invite);
  await peer.sendCdr('start', 'application', tod(at('09:11:01')), 'uas', second.ok);
  await stores.pool.query('UPDATE accounts SET disable_cdrs = 1 WHERE account_sid = ?', [sid]);
  c.ms += 2000; // the cache entry is now as old as CDR_ACCOUNT_CACHE_MS
  const before = await metric(daemon.metrics.cdrsSkipped, { reason: 'opted_out' });
  await peer.sendCdr('stop', 'network', tod(at('09:11:30')), 'normal-release', second.bye);
  t.equal(await waitMetric(daemon.metrics.cdrsSkipped, { reason: 'opted_out' }, before + 1), before + 1);
  t.same(await rowsOf(stores.pool, second.callId), []);
  t.same(await calls.read(second.callId), { done: false, state: null }, 'nothing left for the call');

  // And back: what counts is the flag when the leg ends.
  const third = leg({ toUser: '+15553330000', sourceIp: '203.0.113.21' });
  await peer.sendCdr('attempt', 'network', tod(at('09:12:00')), third.invite);
  await stores.pool.query('UPDATE accounts SET disable_cdrs = 0 WHERE account_sid = ?', [sid]);
  c.ms += 2000;
  await peer.sendCdr('stop', 'application', tod(at('09:12:03')), 'call-rejected', third.final(486));
  t.equal((await waitRows(stores.pool, third.callId)).length, 1, 'opted in again when the third call ended: recorded');
});
