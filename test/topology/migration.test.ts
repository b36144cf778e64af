// Upgrading a single-server deployment from the layout before hash-tagged shards: a daemon started on keys
// of that layout keeps the bindings (same value, the TTL they had left) and writes the spooled rows and the
// legs in flight it finds.
import t from 'tap';
import { Redis } from 'ioredis';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { freshStores, provision, startDaemon, eventually, REDIS_URL, type Stores } from '../helpers/harness.js';
import { answeredLeg, CDR_VERBS, leg, rowsOf } from '../calls/helpers.js';
import { buildRow } from '../../lib/calls/row.js';
import { Device } from '../helpers/ua.js';

const DOMAIN = 'upgrade.example.com';
let stores: Stores;
let peer: DrachtioPeer;
let r: Redis;

t.before(async () => {
  stores = await freshStores('migration');
  peer = await DrachtioPeer.listen();
  r = new Redis(REDIS_URL);
});
t.teardown(async () => {
  r?.disconnect();
  await peer?.close();
  await stores?.close();
});

t.test('bindings and spooled rows of the old layout survive the upgrade', async (t) => {
  if (stores.redisEnv.REDIS_CLUSTER_NODES || stores.redisEnv.REDIS_SENTINELS) {
    t.comment('the old layout only ever ran on one server: nothing to test on this topology');
    return;
  }
  // The schema, as an earlier daemon made it.
  await (await startDaemon(stores, peer)).close();
  const sid = await provision(stores.pool, { realm: DOMAIN, user: 'bob', password: 'builder', numbers: ['15557770001'] });
  const p = stores.prefix;
  // What a daemon of the previous layout left: one binding (30 min left), its AOR and the global index,
  // and a spooled row.
  const binding = { contact: 'sip:bob@192.0.2.44:5060', sourceAddress: '192.0.2.44', sourcePort: 5060, transport: 'udp', userAgent: null,
    accountSid: sid, aor: `bob@${DOMAIN}`, registeredAt: Date.now() - 1_800_000, expiresAt: Date.now() + 1_800_000, callId: 'reg-1', cseq: 1 };
  await r.set(`${p}bind:${sid}:bob:cid1`, JSON.stringify(binding), 'PX', 1_800_000);
  await r.zadd(`${p}aor:${sid}:bob`, binding.expiresAt, 'cid1');
  await r.zadd(`${p}bindings`, binding.expiresAt, 'cid1');
  const spooled = leg({ toUser: '15557770001', toHost: DOMAIN, sourceIp: '198.51.100.90' });
  const now = Date.now();
  const row = buildRow({
    version: '1', callId: spooled.callId, direction: 'inbound', attemptedAt: now - 5000, answeredAt: now - 4000, role: 'uas', startStatus: 200,
    facts: { ruriUser: '15557770001', ruriHost: DOMAIN, fromUser: '15550001111', fromHost: 'x', toUser: '15557770001', remoteHost: '198.51.100.90', userAgent: null, xAccountSid: null },
  } as never, { at: now, reason: 'normal-release', status: 200 } as never, sid);
  await r.rpush(`${p}cdr:spool`, JSON.stringify(row));

  const daemon = await startDaemon(stores, peer);
  t.teardown(() => daemon.close());
  await peer.waitForRoutes(CDR_VERBS);

  t.same(await r.keys(`${p}bind:${sid}:*`), [], 'no binding left in the old place');
  const moved = await stores.keys(`${p}bind:{b*}:${sid}:bob:cid1`);
  t.equal(moved.length, 1, 'the binding is in its shard');
  t.equal(await r.get(moved[0]!), JSON.stringify(binding), 'unchanged');
  const ttl = await r.pttl(moved[0]!);
  t.ok(ttl > 1_700_000 && ttl <= 1_800_000, `with the TTL it had left (${ttl} ms): the hour still counts from its REGISTER`);
  t.equal(await r.exists(`${p}bindings`), 0, 'the global index is gone');
  const device = Device.via(peer, { user: 'bob', password: 'builder', domain: DOMAIN, sourceAddress: '198.51.100.92', sourcePort: 5090 });
  const res = await device.register();
  t.equal(res.status, 200);
  t.match(res.headers.contact ?? '', /192\.0\.2\.44/, 'the moved binding is listed with the new one');

  await eventually(async () => (await rowsOf(stores.pool, spooled.callId)).length === 1, 10_000, 100, 'the spooled row written');
  t.equal(await r.llen(`${p}cdr:spool`), 0, 'the old spool drained');
  const after = leg({ toUser: '15557770001', toHost: DOMAIN, sourceIp: '198.51.100.91' });
  await answeredLeg(peer, after, 'inbound', { attempt: new Date().toISOString(), answer: new Date().toISOString(), end: new Date().toISOString() });
  await eventually(async () => (await rowsOf(stores.pool, after.callId)).length === 1, 10_000, 100, 'a call after the upgrade written');
});
