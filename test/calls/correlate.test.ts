// The leg state in Redis: how events merge (in any order), and the one atomic step that ends a leg.
import t from 'tap';
import { CALL_SHARDS, createCallState, legId, legKeys, DONE_TTL_SECONDS, STATE_GRACE_SECONDS } from '../../lib/calls/correlate.js';
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

t.test('state TTL and the in-flight index: due after the orphan timeout, or the state TTL once answered', async (t) => {
  // Issue 9 changed this: a leg past due is no longer dropped from the index, the orphan sweep finalises
  // it; its state lives STATE_GRACE_SECONDS past due so that a sweep delayed by an outage still finds it.
  const calls = createCallState(stores.redis, stores.prefix, 120, 30);
  const key = legKeys(stores.prefix, 'ttl@x').leg;
  await calls.merge(attempt('ttl@x', 'network', T, {}), T);
  const ttl = await stores.redis.ttl(key);
  t.ok(ttl > 30 + STATE_GRACE_SECONDS - 20 && ttl <= 30 + STATE_GRACE_SECONDS, `unanswered: TTL = orphan timeout + grace (${ttl})`);
  t.match((await calls.read('ttl@x')).state, { dueAt: T + 30_000 });
  t.same(await calls.claimDue(T + 29_000, 1000, 10), [], 'not due before the orphan timeout');
  await calls.merge(start('ttl@x', 'uas', T + 5), T + 10_000);
  const answeredTtl = await stores.redis.ttl(key);
  t.ok(answeredTtl > 120 + STATE_GRACE_SECONDS - 20 && answeredTtl <= 120 + STATE_GRACE_SECONDS, `answered: TTL = state TTL + grace (${answeredTtl})`);
  t.match((await calls.read('ttl@x')).state, { dueAt: T + 130_000 }, 'each event renews the due time');
  t.same(await calls.claimDue(T + 129_000, 1000, 10), []);
  t.same(await calls.claimDue(T + 130_000, 1000, 10), [legId('ttl@x')], 'due: claimed');
  t.same(await calls.claimDue(T + 130_500, 1000, 10), [], 'a claimed leg is out of reach for the claim time');
  t.same(await calls.claimDue(T + 131_000, 1000, 10), [legId('ttl@x')], 'and due again after it');
  t.equal(await calls.countInFlight(T + 131_000), 1, 'a leg past due still counts until it is finalised');
  await stores.redis.del(key); // its state expired, no sweep ran
  t.equal(await calls.countInFlight(T + 132_000), 1);
  t.equal(await calls.countInFlight(T + 133_000 + STATE_GRACE_SECONDS * 1000), 0, 'index entries past the state lifetime are pruned');
  t.notMatch(Object.keys(await redisDump(stores)).join(' '), /ttl@x/, 'key names hold no Call-ID');
});

t.test('a stop that does not end the leg is kept as the last status seen; prune drops only expired legs', async (t) => {
  const calls = createCallState(stores.redis, stores.prefix, 600, 200);
  await calls.merge(attempt('x@x', 'network', T, {}), T);
  const stop = { type: 'stop', callId: 'x@x', source: 'network', at: T + 3000, reason: 'call-rejected', status: 486 } as const;
  t.equal(await calls.merge(stop, T + 3000), 'ok');
  t.equal(await calls.merge(stop, T + 3000), 'duplicate', 'the same answer again');
  t.match((await calls.read('x@x')).state, { fromNetwork: true, lastStatus: 486, lastAt: T + 3000, answeredAt: null, dueAt: T + 203_000 });
  await calls.prune(legId('x@x'));
  t.equal(await calls.countInFlight(T), 1, 'a live leg is never pruned');
  await stores.redis.del(legKeys(stores.prefix, 'x@x').leg);
  await calls.prune(legId('x@x'));
  t.equal(await calls.countInFlight(T), 0, 'an expired one is');
});
