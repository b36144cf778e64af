// The leg state in Redis: how events merge (in any order), and the one atomic step that ends a leg.
import t from 'tap';
import { CALL_SHARDS, createCallState, legId, legKeys, DONE_TTL_SECONDS } from '../../lib/calls/correlate.js';
import type { AttemptFacts, CdrEvent } from '../../lib/calls/event.js';
import { createSpool } from '../../lib/calls/spool.js';
import { clearPrefix, freshStores, type Stores } from '../helpers/harness.js';
import { redisDump } from './helpers.js';

let stores: Stores;
t.before(async () => { stores = await freshStores('calls_correlate'); });
t.teardown(() => stores.close());
t.beforeEach(() => clearPrefix(stores.redis, stores.prefix));

const T = Date.parse('2030-05-05T10:00:00Z');
const facts = (o: Partial<AttemptFacts> = {}): AttemptFacts => ({
  ruriUser: null, ruriHost: null, fromUser: null, fromHost: null, toUser: null, remoteHost: null, userAgent: null, xAccountSid: null, ...o,
});
type Merged = Extract<CdrEvent, { type: 'attempt' | 'start' }>;
const attempt = (callId: string, source: 'network' | 'application', at: number, f: Partial<AttemptFacts>): Merged =>
  ({ type: 'attempt', callId, source, at, facts: facts(f) });
const start = (callId: string, role: 'uas' | 'uac' | 'proxy-uac' | 'proxy-uas', at: number): Merged =>
  ({ type: 'start', callId, source: role.endsWith('uac') ? 'network' : 'application', at, role, status: 200 });

t.test('a proxied call: both INVITEs feed one leg, the network one wins, in either order', async (t) => {
  const calls = createCallState(stores.redis, stores.prefix, 600);
  for (const order of ['network-first', 'application-first']) {
    const id = `proxy-${order}@x`;
    const net = attempt(id, 'network', T + 5, { ruriUser: '+1555', fromUser: 'caller', remoteHost: '203.0.113.5', userAgent: 'Phone' });
    const app = attempt(id, 'application', T + 20, { ruriUser: 'rewritten', toUser: 'callee', remoteHost: '10.0.0.9', xAccountSid: 'acct-1' });
    const events = order === 'network-first' ? [net, app] : [app, net];
    for (const e of events) t.equal(await calls.merge(e, T), 'ok');
    t.equal(await calls.merge(start(id, 'proxy-uac', T + 900), T), 'ok');
    t.equal(await calls.merge(start(id, 'proxy-uas', T + 901), T), 'ok', 'the other proxy role is not a duplicate');
    const { state, done } = await calls.read(id);
    t.equal(done, false);
    t.match(state, {
      callId: id, direction: 'inbound', attemptedAt: T + 5, answeredAt: T + 900, role: 'proxy', startStatus: 200,
      facts: { ruriUser: '+1555', fromUser: 'caller', toUser: 'callee', remoteHost: '203.0.113.5', userAgent: 'Phone', xAccountSid: 'acct-1' },
    }, order);
  }
});

t.test('repeated events are duplicates; events for a finished leg are late', async (t) => {
  const calls = createCallState(stores.redis, stores.prefix, 600);
  const spool = createSpool(stores.redis, stores.prefix, 10);
  const a = attempt('dup@x', 'network', T, {});
  t.equal(await calls.merge(a, T), 'ok');
  t.equal(await calls.merge(a, T), 'duplicate');
  t.equal(await calls.merge(start('dup@x', 'uas', T + 1), T), 'ok');
  t.equal(await calls.merge(start('dup@x', 'uas', T + 1), T), 'duplicate');
  const { state } = await calls.read('dup@x');
  t.equal(await calls.finish('dup@x', state!.version, '{"row":1}', spool), 'spooled');
  t.equal(await calls.finish('dup@x', state!.version, '{"row":1}', spool), 'duplicate', 'finishing twice');
  t.equal(await calls.merge(a, T), 'late', 'a replayed attempt does not reopen the leg');
  t.same(await calls.read('dup@x'), { done: true, state: null });
  t.ok((await stores.redis.ttl(legKeys(stores.prefix, 'dup@x').done)) <= DONE_TTL_SECONDS);
  t.equal(await spool.depth(), 1, 'one row');
});

t.test('finish refuses a stale version, so a row always reflects every merged event', async (t) => {
  const calls = createCallState(stores.redis, stores.prefix, 600);
  const spool = createSpool(stores.redis, stores.prefix, 10);
  await calls.merge(attempt('v@x', 'network', T, {}), T);
  const before = (await calls.read('v@x')).state!;
  await calls.merge(start('v@x', 'uas', T + 1), T);
  t.equal(await calls.finish('v@x', before.version, '{}', spool), 'changed');
  t.equal(await spool.depth(), 0);
  t.equal(await calls.finish('missing@x', '1', '{}', spool), 'missing');
});

t.test('a leg without a row (opted out, unknown account) leaves no key at all', async (t) => {
  const calls = createCallState(stores.redis, stores.prefix, 600);
  const spool = createSpool(stores.redis, stores.prefix, 10);
  await calls.merge(attempt('gone@x', 'network', T, { fromUser: '+1555' }), T);
  t.equal(await calls.countInFlight(T), 1);
  t.equal(await calls.finish('gone@x', (await calls.read('gone@x')).state!.version, null, spool), 'dropped');
  t.same(await redisDump(stores), {}, 'no state, no tombstone, no index entry, no spool');
  t.equal(await calls.countInFlight(T), 0);
});

/** `n` Call-IDs whose legs fall in one shard. */
function sameShard(n: number): string[] {
  const byTag = new Map<string, string[]>();
  for (let i = 0; ; i++) {
    const id = `f${i}@x`;
    const tag = CALL_SHARDS.tagOf(legId(id));
    const l = byTag.get(tag) ?? [];
    l.push(id);
    byTag.set(tag, l);
    if (l.length === n) return l;
  }
}

t.test('a full spool refuses the newest row but still ends the leg', async (t) => {
  const calls = createCallState(stores.redis, stores.prefix, 600);
  const spool = createSpool(stores.redis, stores.prefix, CALL_SHARDS.count);
  t.equal(spool.maxPerShard, 1, 'CDR_SPOOL_MAX is spread over the shards');
  // Two legs of one shard: the bound is per shard.
  const [f1, f2] = sameShard(2);
  for (const id of [f1!, f2!]) await calls.merge(attempt(id, 'network', T, {}), T);
  t.equal(await calls.finish(f1!, (await calls.read(f1!)).state!.version, '{"n":1}', spool), 'spooled');
  t.equal(await calls.finish(f2!, (await calls.read(f2!)).state!.version, '{"n":2}', spool), 'full');
  t.same(await stores.redis.lrange(spool.keyOf(CALL_SHARDS.tagOf(legId(f1!))), 0, -1), ['{"n":1}'], 'the oldest row is kept, the newest dropped');
  t.equal((await calls.read(f2!)).state, null, 'no state left behind');
  t.equal(await calls.countInFlight(T), 0);
});

t.test('state TTL and the in-flight index', async (t) => {
  const calls = createCallState(stores.redis, stores.prefix, 120);
  await calls.merge(attempt('ttl@x', 'network', T, {}), T);
  const ttl = await stores.redis.ttl(legKeys(stores.prefix, 'ttl@x').leg);
  t.ok(ttl > 100 && ttl <= 120, `TTL set from callStateTtlSeconds (${ttl})`);
  t.equal(await calls.countInFlight(T + 119_000), 1);
  t.equal(await calls.countInFlight(T + 121_000), 0, 'index entries past the state TTL are pruned');
  t.notMatch(Object.keys(await redisDump(stores)).join(' '), /ttl@x/, 'key names hold no Call-ID');
});
