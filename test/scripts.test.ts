// Every Lua script, called directly against the real Redis, branch by branch: what each returns is a
// named variant, and each refusal changes nothing. Each test's keys share one hash tag, as the stores'
// keys do, so the file runs on a Redis Cluster too (TEST_REDIS_TOPOLOGY=cluster).
import t from 'tap';
import { createCallState, legId } from '../lib/calls/correlate.js';
import { createSpool } from '../lib/calls/spool.js';
import { createBindingStore } from '../lib/register/bindings.js';
import { createAuthGuard } from '../lib/register/guard.js';
import { freshStores, type Stores } from './helpers/harness.js';

let s: Stores;
t.before(async () => { s = await freshStores('scripts'); });
t.teardown(() => s.close());

t.test('store-bindings.lua: blocked, replayed, out_of_order, ok with trimming, removal, the behind-NAT index', async (t) => {
  const r = s.redis;
  createBindingStore(r, s.prefix);
  const p = `${s.prefix}{sb}:`;
  const [aor, all, nc, block, bp, nat] = [`${p}aor`, `${p}all`, `${p}nc`, `${p}block`, `${p}bind:`, `${p}nat`];
  const now = Date.now();
  // A change: cid, TTL ms, JSON, and '1' for a device behind a NAT. Every cid this test uses is declared
  // (undeclared ones: the next test).
  const store = (o: { nc?: number; removeAll?: boolean; cseq?: number; blockKey?: string; changes: ([string, number, string] | [string, number, string, '1'])[] }) => {
    const keys = [aor, all, nc, o.blockKey ?? aor, nat, ...o.changes.map(([cid]) => bp + cid), ...['c1', 'c2', 'c3', 'c4'].map((c) => bp + c)];
    return r.sidecarStoreBindings(keys.length, ...keys, now, o.nc ?? 0, 60_000, bp, o.removeAll ? '1' : '0', 3, 'call-1', o.cseq ?? 1,
      ...o.changes.flatMap(([, ttl, json, behind]) => [ttl, json, behind ?? '0']));
  };
  const b = (cid: string, cseq = 1) => JSON.stringify({ contact: cid, callId: 'call-1', cseq });
  await r.set(block, '1');
  t.same(await store({ blockKey: block, changes: [['c1', 5000, b('c1')]] }), ['blocked'], 'a blocked source stores nothing');
  t.equal(await r.exists(`${bp}c1`), 0);
  const ok = await store({ nc: 1, changes: [['c1', 5000, b('c1')]] });
  t.same(ok, ['ok', 'c1', b('c1'), String(now + 5000)], 'ok: what is bound: cid, binding and expiry');
  t.same(await store({ nc: 1, cseq: 2, changes: [['c2', 5000, b('c2', 2)]] }), ['replayed'], 'the same nonce-count again');
  t.same(await store({ cseq: 1, changes: [['c1', 9000, b('c1')]] }), ['out_of_order'], 'CSeq not above the binding\'s');
  t.same(await store({ cseq: 1, removeAll: true, changes: [] }), ['out_of_order'], 'Contact: * older than a binding');
  t.same(await r.zrange(nat, '0', '-1'), [], 'not behind a NAT: not in the NAT index');
  await store({ cseq: 2, changes: [['c1', 5000, b('c1', 2), '1']] });
  t.same(await r.zrange(nat, '0', '-1', 'WITHSCORES'), ['c1', String(now + 5000)], 'behind a NAT: indexed with its expiry');
  for (const c of ['c2', 'c3', 'c4']) await store({ cseq: 2, changes: [[c, 3000 + Number(c[1]), b(c, 2)]] });
  const kept = await r.zrange(aor, '0', '-1');
  t.equal(kept.length, 3, 'trimmed to the maximum');
  t.ok(kept.includes('c4'), 'never the binding just written');
  t.notOk(kept.includes('c2'), 'the soonest to expire went');
  t.same(await r.zrange(nat, '0', '-1'), ['c1'], 'the NAT index keeps what the AOR keeps');
  await store({ cseq: 3, changes: [['c1', 5000, b('c1', 3)]] });
  t.same(await r.zrange(nat, '0', '-1'), [], 'refreshed from outside a NAT: out of the NAT index');
  await store({ cseq: 4, changes: [['c1', 5000, b('c1', 4), '1']] });
  t.same(await store({ cseq: 5, removeAll: true, changes: [] }), ['ok'], 'all removed');
  t.equal(await r.exists(aor), 0, 'the AOR goes with its last binding');
  t.equal(await r.exists(nat), 0, 'and the NAT index entry with its binding');
});

t.test('store-bindings.lua: a live member whose key is not declared changes nothing and is named', async (t) => {
  const r = s.redis;
  createBindingStore(r, s.prefix);
  const p = `${s.prefix}{sk}:`;
  const [aor, all, nc, bp, nat] = [`${p}aor`, `${p}all`, `${p}nc`, `${p}bind:`, `${p}nat`];
  const now = Date.now();
  const b = (cid: string, cseq: number) => JSON.stringify({ contact: cid, callId: 'call-1', cseq });
  const store = (o: { declare: string[]; nc?: number; removeAll?: boolean; cseq: number; max?: number; changes: [string, number, string][] }) => {
    const keys = [aor, all, nc, aor, nat, ...o.changes.map(([cid]) => bp + cid), ...o.declare.map((c) => bp + c)];
    return r.sidecarStoreBindings(keys.length, ...keys, now, o.nc ?? 0, 60_000, bp, o.removeAll ? '1' : '0', o.max ?? 3, 'call-1', o.cseq,
      ...o.changes.flatMap(([, ttl, json]) => [ttl, json, '0']));
  };
  t.same(await store({ declare: [], cseq: 1, changes: [['c1', 5000, b('c1', 1)]] }), ['ok', 'c1', b('c1', 1), String(now + 5000)],
    'an empty AOR: the change\'s own key is all it needs');
  await r.zadd(aor, now - 1, 'old');
  await r.zadd(all, now - 1, 'old');
  const before = async () => ({
    aor: await r.zrange(aor, '0', '-1', 'WITHSCORES'), all: await r.zrange(all, '0', '-1', 'WITHSCORES'), nc: await r.get(nc),
    c1: await r.get(`${bp}c1`), c2: await r.get(`${bp}c2`),
  });
  const was = await before();
  t.same(await store({ declare: [], nc: 7, cseq: 2, changes: [['c2', 5000, b('c2', 2)]] }), ['keys', 'c1'],
    'a live member not declared is named (an expired one is not)');
  t.same(await before(), was, 'and nothing changed: no binding, no index entry, no nonce-count, not even the expired member cleaned');
  t.same(await store({ declare: [], removeAll: true, cseq: 2, changes: [] }), ['keys', 'c1'], 'Contact: * too');
  t.same(await before(), was);
  t.same(await store({ declare: ['c1'], nc: 7, cseq: 2, changes: [['c2', 6000, b('c2', 2)]] }),
    ['ok', 'c1', b('c1', 1), String(now + 5000), 'c2', b('c2', 2), String(now + 6000)], 'declared: applied, every cid bound returned');
  t.equal(await r.get(nc), '7', 'the nonce-count is taken when the change applies');
  t.equal(await r.zscore(aor, 'old'), null, 'the expired member left the AOR');
  t.equal(await r.zscore(all, 'old'), null, 'and the index, without its key');
  t.same(await store({ declare: ['c2'], cseq: 3, max: 2, changes: [['c3', 7000, b('c3', 3)]] }), ['keys', 'c1'], 'trimming needs every member\'s key');
  t.same(await store({ declare: ['c1', 'c2'], cseq: 3, max: 2, changes: [['c3', 7000, b('c3', 3)]] }),
    ['ok', 'c2', b('c2', 2), String(now + 6000), 'c3', b('c3', 3), String(now + 7000)], 'trimmed: the soonest to expire went');
  t.equal(await r.exists(`${bp}c1`), 0, 'its key with it');
  await t.rejects(r.sidecarStoreBindings(6, aor, all, nc, aor, nat, `${s.prefix}{sk}:other:c9`, now, 0, 60_000, bp, '0', 3, 'call-1', 4),
    /outside the AOR's binding key prefix/, 'a declared key that is not a binding key of this AOR is refused');
  await t.rejects(r.sidecarStoreBindings(5, aor, all, nc, aor, nat, now, 0, 60_000, bp, '0', 3, 'call-1', 4, 5000, b('c4', 4), '0'),
    /a change without its binding key/);
});

t.test('locate.lua: the live bindings of one AOR, as stored; none past their index entry; undeclared ones named', async (t) => {
  const r = s.redis;
  createBindingStore(r, s.prefix);
  const p = `${s.prefix}{lo}:`;
  const now = Date.now();
  const locate = (at: number, cids: string[]) => r.sidecarLocate(cids.length + 1, `${p}aor`, ...cids.map((c) => `${p}bind:${c}`), at, `${p}bind:`);
  t.same(await locate(now, []), ['ok'], 'no AOR: nothing');
  await r.zadd(`${p}aor`, now + 5000, 'a', now + 9000, 'b', now - 1, 'old', now + 7000, 'gone');
  await r.set(`${p}bind:a`, '{"a":1}');
  await r.set(`${p}bind:b`, '{"b":1}');
  await r.set(`${p}bind:old`, '{"old":1}');
  t.same(await locate(now, ['a']), ['keys', 'gone', 'b'], 'the live members not declared, and nothing read');
  t.same(await locate(now, ['a', 'b', 'gone']), ['ok', 'a', '{"a":1}', 'gone', null, 'b', '{"b":1}'],
    'by expiry; an entry in the past is skipped; a key that expired before its index entry is null');
  t.same(await locate(now + 5000, ['b', 'gone']), ['ok', 'gone', null, 'b', '{"b":1}'], 'an entry expiring exactly now is not live');
});

t.test('auth-fail.lua: counted, block_started at the limit, blocked', async (t) => {
  const g = createAuthGuard(s.redis, { prefix: s.prefix, secret: 'k', limit: 2, windowSeconds: 60, blockSeconds: 60 });
  const f = `${s.prefix}{af}f`; const b = `${s.prefix}{af}b`;
  t.equal(await s.redis.sidecarAuthFail(f, b, 60, 2, 60), 'counted');
  t.equal(await s.redis.sidecarAuthFail(f, b, 60, 2, 60), 'block_started');
  t.equal(await s.redis.sidecarAuthFail(f, b, 60, 2, 60), 'blocked', 'not counted while blocked');
  t.equal(await s.redis.exists(f), 0, 'the counter goes when the block starts');
  t.ok(await s.redis.ttl(b) > 0, 'the block expires');
  t.equal(typeof g.blockKey('x'), 'string');
});

t.test('merge, read, finish, discard, count-in-flight, claim, prune', async (t) => {
  const r = s.redis;
  createCallState(r, s.prefix, 60);
  const [leg, done, idx, spool] = [`${s.prefix}{c}L`, `${s.prefix}{c}D`, `${s.prefix}{c}I`, `${s.prefix}{c}S`];
  // due 5000 / ttl 60 s while unanswered, due 9000 / ttl 120 s once answered
  const merge = (flag: string, ...pairs: [number, number, number, ...string[]]) =>
    r.sidecarCdrMerge(leg, done, idx, 'm', 5000, 60, 9000, 120, flag, ...pairs);
  t.equal(await merge('a:network', 1, 0, 0, 'dir', 'inbound'), 'ok');
  t.equal(await merge('a:network', 1, 0, 0, 'dir', 'inbound'), 'duplicate', 'the same source again');
  t.same(await r.sidecarCdrRead(leg, done), [0, 'a:network', '1', 'dir', 'inbound', 'due', '5000', 'v', '1'], 'read: not done, the fields');
  t.equal(await r.zscore(idx, 'm'), '5000', 'unanswered: the unanswered due time');
  t.ok(await r.ttl(leg) <= 60 && await r.ttl(leg) > 0);
  t.equal(await merge('s:uas', 0, 0, 1, 'ans', '4000'), 'ok');
  t.equal(await r.zscore(idx, 'm'), '9000', 'answered: the answered due time');
  t.ok(await r.ttl(leg) > 60, 'and the answered state lifetime');
  t.equal(await r.hget(leg, 'v'), '2');
  t.equal(await r.sidecarCdrCountInFlight(idx, 1000), 1);
  t.same(await r.sidecarCdrClaim(idx, 8000, 40_000, 10), [], 'not due yet: nothing claimed');
  t.same(await r.sidecarCdrClaim(idx, 9000, 40_000, 10), ['m'], 'due: claimed');
  t.equal(await r.zscore(idx, 'm'), '40000', 'moved to claimed-until, so a second sweep does not take it');
  t.same(await r.sidecarCdrClaim(idx, 9000, 40_000, 10), [], 'claimed once only');
  t.equal(await r.sidecarCdrPrune(leg, idx, 'm'), 'live', 'a live leg is never pruned');
  t.equal(await r.sidecarCdrCountInFlight(idx, 50_000), 0, 'index entries older than the oldest alive dropped');
  await r.zadd(idx, 1, 'gone');
  t.equal(await r.sidecarCdrPrune(`${s.prefix}{c}nothing`, idx, 'gone'), 'pruned', 'an entry without state goes');
  t.equal(await r.zscore(idx, 'gone'), null);
  await r.del(leg);
  await merge('a:network', 1, 0, 0, 'dir', 'inbound');
  t.equal(await r.sidecarCdrFinish(leg, done, idx, spool, 'm', '0', 'row', 600, 10), 'changed', 'a stale version');
  t.equal(await r.sidecarCdrFinish(leg, done, idx, spool, 'm', '1', 'row', 600, 10), 'spooled');
  t.equal(await r.sidecarCdrFinish(leg, done, idx, spool, 'm', '1', 'row', 600, 10), 'duplicate', 'finished twice: not spooled twice');
  t.equal(await r.llen(spool), 1, 'one row');
  t.equal(await merge('s:uas', 0, 0, 0), 'late', 'an event after the end');
  await r.del(done);
  t.equal(await r.sidecarCdrFinish(leg, done, idx, spool, 'm', '1', 'row', 600, 10), 'missing');
  await merge('a:network', 1, 0, 0, 'dir', 'inbound');
  t.equal(await r.sidecarCdrFinish(leg, done, idx, spool, 'm', '1', '', 600, 10), 'dropped', 'no row: ended, no tombstone');
  t.equal(await r.exists(done), 0);
  await merge('a:network', 1, 0, 0, 'dir', 'inbound');
  t.equal(await r.sidecarCdrFinish(leg, done, idx, spool, 'm', '1', 'row2', 600, 1), 'full', 'a full spool: ended, row refused');
  t.equal(await r.llen(spool), 1);
  await r.del(done);
  await merge('a:network', 1, 0, 0, 'dir', 'inbound');
  t.equal(await r.sidecarCdrDiscard(leg, idx, 'm'), 'discarded');
  t.equal(await r.sidecarCdrDiscard(leg, idx, 'm'), 'none');
  t.equal(typeof legId('x'), 'string');
});

t.test('spool-lock, spool-release, spool-trim, spool-mark', async (t) => {
  const r = s.redis;
  const sp = { key: createSpool(r, s.prefix, 100).keyOf('{c0}') };
  const lock = `${s.prefix}cdr:writer:{c0}`;
  t.equal(await r.sidecarCdrLock(lock, 'a', 5000), 'locked');
  t.equal(await r.sidecarCdrLock(lock, 'a', 5000), 'renewed');
  t.equal(await r.sidecarCdrLock(lock, 'b', 5000), 'taken');
  await r.rpush(sp.key, 'r1', 'r2', 'r3');
  t.equal(await r.sidecarCdrTrim(sp.key, lock, 'b', 5000, 2, 'r1', 'r2'), 'not_owner');
  t.equal(await r.sidecarCdrTrim(sp.key, lock, 'a', 5000, 2, 'r2', 'r3'), 'moved', 'the head is not that batch');
  t.equal(await r.sidecarCdrTrim(sp.key, lock, 'a', 5000, 2, 'r1', 'r2'), 'trimmed');
  t.same(await r.lrange(sp.key, 0, -1), ['r3']);
  t.equal(await r.sidecarCdrMark(sp.key, 'X', 0, 'r9'), 'moved', 'a row not where it was: nothing marked');
  t.equal(await r.sidecarCdrMark(sp.key, 'X', 0, 'r3'), 'marked');
  t.same(await r.lrange(sp.key, 0, -1), ['X']);
  t.equal(await r.sidecarCdrRelease(lock, 'b'), 'not_owner');
  t.equal(await r.sidecarCdrRelease(lock, 'a'), 'released');
  t.equal(await r.exists(lock), 0);
});
