// The binding store across instances: each remembers which bindings an AOR held when it last saw it, and the
// scripts touch only the keys they are given. A store with an empty memory (another instance, a restart) must
// still see, order-check, trim and remove the bindings another one made. Runs on a Redis Cluster too
// (TEST_REDIS_TOPOLOGY=cluster).
import t from 'tap';
import { createBindingStore, MAX_BINDINGS_PER_AOR, type Binding, type BindingStore } from '../../lib/register/bindings.js';
import { freshStores, type Stores } from '../helpers/harness.js';

let s: Stores;
t.before(async () => { s = await freshStores('binding_store'); });
t.teardown(() => s.close());

const ACCOUNT = 'acct-1';
const binding = (user: string, contact: string, now: number, ttlMs: number, callId: string, cseq: number): Binding => ({
  contact, sourceAddress: '192.0.2.10', sourcePort: 5060, transport: 'udp', userAgent: null, accountSid: ACCOUNT,
  aor: `sip:${user}@example.com`, registeredAt: now, expiresAt: now + ttlMs, callId, cseq,
});
const register = (store: BindingStore, user: string, contacts: string[], o: { now: number; ttlMs?: number; callId?: string; cseq?: number; removeAll?: boolean }) =>
  store.store({
    accountSid: ACCOUNT, user, nonce: 'n', nc: 0, nonceTtlMs: 60_000, removeAll: o.removeAll ?? false, now: o.now,
    callId: o.callId ?? `call-${contacts[0] ?? 'all'}`, cseq: o.cseq ?? 1,
    changes: contacts.map((c) => ({ contact: c, ttlMs: o.removeAll ? 0 : o.ttlMs ?? 60_000, binding: o.removeAll ? null : binding(user, c, o.now, o.ttlMs ?? 60_000, o.callId ?? `call-${c}`, o.cseq ?? 1) })),
  });
const contacts = (r: Awaited<ReturnType<BindingStore['store']>>) => (r.ok ? r.bindings.map((b) => b.contact).sort() : r.reason);
const fresh = () => createBindingStore(s.redis, s.prefix);

t.test('a second instance registering another contact sees the first one\'s binding, and the first then sees both', async (t) => {
  const a = fresh(), b = fresh();
  const now = Date.now();
  t.same(contacts(await register(a, 'u1', ['sip:one@h'], { now })), ['sip:one@h']);
  t.same(contacts(await register(b, 'u1', ['sip:two@h'], { now })), ['sip:one@h', 'sip:two@h'], 'the 200 lists the other instance\'s binding');
  t.same((await a.locate(ACCOUNT, 'u1', now)).map((x) => x.contact).sort(), ['sip:one@h', 'sip:two@h'], 'locate from a stale memory');
  t.same((await fresh().locate(ACCOUNT, 'u1', now)).map((x) => x.contact).sort(), ['sip:one@h', 'sip:two@h'], 'locate from none');
  t.same(contacts(await register(a, 'u1', ['sip:one@h'], { now, ttlMs: 0, removeAll: false, cseq: 2 }).then(async () => register(a, 'u1', ['sip:three@h'], { now }))),
    ['sip:three@h', 'sip:two@h'], 'the first instance removes its own and keeps the other\'s');
});

t.test('Contact: * from an instance that never saw the AOR removes every binding and its index entries', async (t) => {
  const a = fresh();
  const now = Date.now();
  const others = await a.countActive(now);
  await register(a, 'u2', ['sip:a@h', 'sip:b@h', 'sip:c@h'], { now });
  t.equal(await a.countActive(now), others + 3);
  t.same(contacts(await register(fresh(), 'u2', [], { now, removeAll: true, callId: 'other', cseq: 1 })), [], 'all removed');
  t.same(await s.keys(`${s.prefix}bind:*:u2:*`), [], 'no binding key left');
  t.same(await s.keys(`${s.prefix}aor:*:u2`), [], 'nor the AOR');
  t.equal(await fresh().countActive(now), others, 'nor an index entry');
  t.same(await a.locate(ACCOUNT, 'u2', now), [], 'the first instance, remembering them, finds none');
  t.same(contacts(await register(a, 'u2', ['sip:d@h'], { now })), ['sip:d@h'], 'and stores anew');
});

t.test('the RFC 3261 10.3 order check reads bindings an instance did not know of', async (t) => {
  const now = Date.now();
  await register(fresh(), 'u3', ['sip:x@h'], { now, callId: 'c', cseq: 10 });
  t.same(contacts(await register(fresh(), 'u3', [], { now, removeAll: true, callId: 'c', cseq: 5 })), 'out_of_order', 'Contact: * older than the binding');
  t.equal((await fresh().locate(ACCOUNT, 'u3', now)).length, 1, 'untouched');
});

t.test('the maximum per AOR is kept from a cold instance: the soonest to expire goes, key and all', async (t) => {
  const now = Date.now();
  const a = fresh();
  const others = await a.countActive(now);
  for (let i = 0; i < MAX_BINDINGS_PER_AOR; i++) await register(a, 'u4', [`sip:d${i}@h`], { now, ttlMs: 60_000 + i });
  const r = await register(fresh(), 'u4', ['sip:new@h'], { now, ttlMs: 30_000 });
  t.ok(r.ok);
  t.equal(contacts(r).length, MAX_BINDINGS_PER_AOR);
  t.ok(contacts(r).includes('sip:new@h'), 'never the one just written');
  t.notOk(contacts(r).includes('sip:d0@h'), 'the soonest to expire went');
  t.equal((await s.keys(`${s.prefix}bind:*:u4:*`)).length, MAX_BINDINGS_PER_AOR, 'its binding key with it');
  t.equal(await fresh().countActive(now), others + MAX_BINDINGS_PER_AOR, 'and its index entry');
});

t.test('REGISTERs and lookups of many AORs in one event-loop turn, on an auto-pipelined connection, each on its own keys', async (t) => {
  // On a cluster the daemon's main connection is auto-pipelined (lib/redis.ts). ioredis groups such a pipeline
  // by a command's first argument, which for a script whose keys vary is their number: these scripts must go
  // by themselves or several AORs' calls of one turn land on one node together and fail.
  const piped = s.client({ autoPipeline: true });
  t.teardown(() => piped.disconnect());
  const store = createBindingStore(piped, s.prefix);
  const now = Date.now();
  const users = Array.from({ length: 24 }, (_, i) => `many${i}`);
  const stored = await Promise.all(users.map((u) => register(store, u, [`sip:${u}@h`], { now })));
  t.same(stored.map(contacts), users.map((u) => [`sip:${u}@h`]), 'every REGISTER stored its own binding');
  const found = await Promise.all(users.map((u) => createBindingStore(piped, s.prefix).locate(ACCOUNT, u, now)));
  t.same(found.map((f) => f.map((b) => b.contact)), users.map((u) => [`sip:${u}@h`]), 'every lookup found it, from a cold memory too');
});
