// The daemon on a Redis Sentinel set (a master, a replica, three sentinels, all real redis-server processes on
// loopback): it serves REGISTERs and CDRs through the master the sentinels name, and across a failover (the
// master SIGKILLed under REGISTER and call load) it answers 503 meanwhile — never hangs — and serves again once
// the replica is promoted; every binding written before survives with its TTL ≤ 3600 s, and with
// REDIS_MIN_REPLICAS_ACK=1 every answered call has exactly one row.
import t from 'tap';
import { Redis } from 'ioredis';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { startSentinelSet, type SentinelSet } from '../helpers/redis-servers.js';
import { Device } from '../helpers/ua.js';
import { answeredLeg, CDR_VERBS, leg, waitRows } from '../calls/helpers.js';
import { assertEveryCallOnce, startCallLoad } from './failover-load.js';

const DOMAIN = 'sentinel.example.com';
let stores: Stores;
let set: SentinelSet;
let peer: DrachtioPeer;
let daemon: Daemon;
let data: Redis;

t.before(async () => {
  stores = await freshStores('sentinel');
  set = await startSentinelSet();
  peer = await DrachtioPeer.listen();
  daemon = await startDaemon(stores, peer, {
    env: { REDIS_SENTINELS: set.sentinelList, REDIS_COMMAND_TIMEOUT_MS: '500', REDIS_MIN_REPLICAS_ACK: '1', REDIS_WAIT_TIMEOUT_MS: '500' },
  });
  await peer.waitForRoutes(CDR_VERBS);
  await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland', numbers: ['15558880001'] });
  data = new Redis({ sentinels: set.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), name: set.masterName });
});
t.teardown(async () => {
  data?.disconnect();
  await daemon?.close();
  await peer?.close();
  await set?.stop();
  await stores?.close();
});

const bindings = () => data.keys(`${stores.prefix}bind:*`);
const callLeg = () => leg({ fromUser: '15550002222', toUser: '15558880001', toHost: DOMAIN, sourceIp: '198.51.100.61' });
const phone = (port: number) => Device.via(peer, { user: 'alice', password: 'wonderland', domain: DOMAIN, sourceAddress: '198.51.100.60', sourcePort: port });

t.test('REGISTERs and CDRs go to the master the sentinels name, not to REDIS_URL', async (t) => {
  t.equal((await phone(5100).register()).status, 200);
  t.equal((await bindings()).length, 1, 'the binding is on the sentinel master');
  t.same(await stores.keys(`${stores.prefix}bind:*`), [], 'nothing on the server of REDIS_URL');
  const l = callLeg();
  const now = new Date().toISOString();
  await answeredLeg(peer, l, 'inbound', { attempt: now, answer: now, end: now });
  t.equal((await waitRows(stores.pool, l.callId)).length, 1, 'the CDR row is written');
});

t.test('a failover under REGISTER and call load: 503 while no master answers, then service again on the promoted replica; nothing lost', { timeout: 180_000 }, async (t) => {
  const before = await bindings();
  // Calls keep coming throughout: every one whose three events were sent is an answered call owed a row.
  const calls = startCallLoad(peer, callLeg);
  t.teardown(() => calls.stop().then(() => undefined, () => undefined)); // an assert failed before the stop below
  await new Promise((r) => setTimeout(r, 500));
  t.equal(await data.call('WAIT', 1, 2000), 1, 'the replica acknowledged every write so far');
  const killedAt = Date.now();
  await set.master.kill();
  const statuses: number[] = [];
  let recoveredAt = 0;
  for (let i = 0; i < 600 && !recoveredAt; i++) {
    const started = Date.now();
    const res = await phone(5101 + i).register();
    statuses.push(res.status);
    t.ok(Date.now() - started < 5000, 'answered within the deadline, never left hanging', { status: res.status });
    if (res.status === 200) recoveredAt = Date.now();
    else await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const answered = await calls.stop();
  t.ok(recoveredAt, `served again after the failover (${statuses.length} REGISTERs tried)`);
  t.ok(statuses.every((s) => s === 200 || s === 503), `only 200 or 503 answered: ${[...new Set(statuses)].join(', ')}`);
  t.equal(await set.currentMaster(), set.replica.port, 'the replica is the master now');
  const after = await bindings();
  for (const k of before) t.ok(after.includes(k), 'a binding written before the kill survived it');
  for (const k of before) {
    const ttl = await data.pttl(k);
    t.ok(ttl > 0 && ttl <= 3600_000, `and keeps a TTL ≤ 3600 s (${ttl} ms)`);
  }
  const rows = await assertEveryCallOnce(t, stores.pool, daemon, answered);
  const unavailable = statuses.filter((s) => s === 503).length;
  t.comment(`sentinel failover: ${unavailable} REGISTERs answered 503; service back ${((recoveredAt - killedAt) / 1000).toFixed(1)} s after the master was killed; ${answered.length} answered calls during the load, ${rows} rows`);
});
