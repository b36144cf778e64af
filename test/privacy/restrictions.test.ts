// An end user's objection through two real daemons (each behind its own drachtio peer, sharing Redis
// and MySQL): once restricted on one, a number gets no CDR row from either, as caller or callee, on
// any account; its existing rows go at once unless held; the list holds a keyed hash, not the number;
// a row spooled by an instance that had not heard is dropped by the writer; lifting records again.
// The restriction list reaches another instance over the account-changes channel within 1 s.
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { createCallState } from '../../lib/calls/correlate.js';
import type { SpoolRow } from '../../lib/calls/row.js';
import { createSpool } from '../../lib/calls/spool.js';
import { createHasher, createLogger } from '../../lib/log.js';
import { createAccountChanges } from '../../lib/privacy/account-changes.js';
import { runAudit } from '../../lib/privacy/audit.js';
import { createRestrictionList, RESTRICTIONS_CHANGED } from '../../lib/privacy/restrictions.js';
import { createBindingStore } from '../../lib/register/bindings.js';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { callIds, insertCdr } from '../helpers/cdr-rows.js';
import { request } from '../helpers/http-client.js';
import { CDR_VERBS, leg, metric, tod, waitRows } from '../calls/helpers.js';

const DAY = 86_400_000;
const KEY = 'restrictions-test-privacy-hash-key-012345';
const TOKEN = 'restrict-token-0123456789abc';
const R = '+15557000001';
const BARE = '15557000001';
const log = createLogger({ level: 'silent', hashKey: '' });

let stores: Stores;
let peerA: DrachtioPeer;
let peerB: DrachtioPeer;
let a: Daemon;
let b: Daemon;
let acct1 = '';
let acct2 = '';

t.before(async () => {
  stores = await freshStores('restrictions');
  [peerA, peerB] = [await DrachtioPeer.listen(), await DrachtioPeer.listen()];
  const env = { PRIVACY_HASH_KEY: KEY, CDR_FLUSH_MS: '50', CDR_ACCOUNT_CACHE_MS: '0' };
  a = await startDaemon(stores, peerA, { env: { ...env, ADMIN_TOKEN: TOKEN } });
  b = await startDaemon(stores, peerB, { env });
  await peerA.waitForRoutes(CDR_VERBS);
  await peerB.waitForRoutes(CDR_VERBS);
  acct1 = await provision(stores.pool, { realm: 'r1.example.com', numbers: ['15550008001'] });
  acct2 = await provision(stores.pool, { realm: 'r2.example.com', numbers: ['15550008002'] });
});
t.teardown(async () => {
  await a.close();
  await b.close();
  await peerA.close();
  await peerB.close();
  await stores.close();
});

const api = (path: string, method = 'GET', body?: unknown) =>
  request(`${a.httpUrl}${path}`, { method, token: TOKEN, body: body === undefined ? undefined : JSON.stringify(body) });
const now = () => tod(new Date().toISOString());
/** A call through `peer` (so handled by its daemon) from `from` to `to`; its Call-ID. */
async function call(peer: DrachtioPeer, from: string, to: string): Promise<string> {
  const l = leg({ fromUser: from, toUser: to, sourceIp: '203.0.113.9' });
  await peer.sendCdr('attempt', 'network', now(), l.invite);
  await peer.sendCdr('stop', 'application', now(), 'call-rejected', l.final(486));
  return l.callId;
}
const restrictedSkips = async () => (await metric(a.metrics.cdrsSkipped, { reason: 'restricted' })) + (await metric(b.metrics.cdrsSkipped, { reason: 'restricted' }));

t.test('the restriction list reaches another instance over the account-changes channel within 1 s', async (t) => {
  const listA = createRestrictionList({ pool: stores.pool, hashKey: KEY, log });
  const listB = createRestrictionList({ pool: stores.pool, hashKey: KEY, log });
  const subscriber = stores.client();
  const changes = createAccountChanges({ publisher: stores.redis, subscriber, prefix: stores.prefix, log });
  t.teardown(async () => { await changes.close(); subscriber.disconnect(); });
  await changes.subscribe((m) => { if (m === RESTRICTIONS_CHANGED) void listB.sync(); });
  await listB.sync();
  t.equal(listB.restricted('15551112222', null), false);
  await stores.pool.query('INSERT INTO cdr_restrictions (number_hash, restricted_at, created_by) VALUES (?, UTC_TIMESTAMP(3), ?)', [listA.hashOf('+15551112222'), 'test']);
  await changes.publish(RESTRICTIONS_CHANGED);
  t.ok(await eventually(() => listB.restricted('15551112222', null), 1000), 'B applies it within 1 s of the message');
  t.ok(listB.restricted(null, '+15551112222'), 'as callee too, with or without +');
  await stores.pool.query('DELETE FROM cdr_restrictions');
  await changes.publish(RESTRICTIONS_CHANGED);
  t.ok(await eventually(() => !listB.restricted('15551112222', null), 1000), 'and forgets it as fast');
});

t.test('restricting a number erases its rows on every account but held ones, and stores only a keyed hash', async (t) => {
  const mine = [
    await insertCdr(stores.pool, acct1, { at: Date.now() - DAY, from: R }),
    await insertCdr(stores.pool, acct2, { at: Date.now() - DAY, to: BARE }),
  ];
  const held = await insertCdr(stores.pool, acct1, { at: Date.now() - 2 * DAY, to: R });
  const keep = await insertCdr(stores.pool, acct2, { at: Date.now() - DAY, from: '15559990000' });
  const hold = await api(`/v1/accounts/${acct1}/legal-hold`, 'PUT', { reference: 'case 9', number: R });
  t.equal(hold.status, 201);
  const r = await api(`/v1/restrictions/${encodeURIComponent(R)}`, 'PUT');
  t.equal(r.status, 201);
  const body = r.json();
  t.same(body.erased, { cdrs: 1, spooled: 0, held: 2 }, "acct2's row goes; acct1's two are held");
  t.match(body, { restricted: true, restricted_at: /^\d{4}-\d\d-\d\dT/ });
  t.same(await callIds(stores.pool, 'cdrs'), [mine[0]!.callId, held.callId, keep.callId].sort());

  const again = await api(`/v1/restrictions/${BARE}`, 'PUT');
  t.same([again.status, again.json().restricted_at], [200, body.restricted_at], 'the same number without +: already restricted, its time kept');
  const [list] = await stores.pool.query<RowDataPacket[]>('SELECT * FROM cdr_restrictions');
  t.equal(list.length, 1);
  t.equal(list[0]!.number_hash, createHasher(KEY)(BARE), 'a keyed hash of the number');
  t.notOk(JSON.stringify(list).includes('7000001'), 'not the number');
  const [audit] = await stores.pool.query<RowDataPacket[]>("SELECT subject_hash, counts FROM erasure_audit WHERE kind = 'restriction'");
  t.equal(audit.length, 2);
  t.notOk(JSON.stringify(audit).includes('7000001'));
  t.same((await api(`/v1/restrictions/${encodeURIComponent(R)}`)).json(), { restricted: true, restricted_at: body.restricted_at });
  t.equal((await api('/v1/restrictions/15550000000')).status, 404, 'a number not restricted');
  t.equal((await api("/v1/restrictions/1'%20OR%201=1")).status, 400);
});

t.test('a restricted number gets no row on either instance, as caller or callee, on any account', async (t) => {
  const skips = await restrictedSkips();
  const calls = [
    await call(peerB, R, '15550008002'),
    await call(peerA, '15557000099', BARE),
    await call(peerB, BARE, '15550008001'),
    await call(peerA, R, '15550008001'),
  ];
  const marker = await call(peerB, '15557000099', '15550008002');
  await waitRows(stores.pool, marker);
  t.ok(await eventually(async () => (await restrictedSkips()) === skips + 4, 3000), 'each skipped as restricted (before any account lookup)');
  await sleep(300);
  for (const id of calls) t.same(await callIds(stores.pool, 'cdrs', 'sip_callid = ?', [id]), [], 'no row');
  t.ok((await metric(b.metrics.cdrsSkipped, { reason: 'restricted' })) >= 1, 'instance B applied it (cdrs_skipped_total{reason="restricted"})');
});

t.test('a row spooled by an instance that had not heard yet is dropped by the writer', async (t) => {
  const skips = await restrictedSkips();
  const spool = createSpool(stores.redis, stores.prefix, 1000);
  const row: SpoolRow = {
    f: 1, callId: 'late-spooled-restricted', accountSid: acct2, direction: 'inbound', fromUser: R, toUser: '15550008002', remoteHost: '203.0.113.5',
    attemptedAt: Date.now() - 60_000, answeredAt: null, terminatedAt: Date.now() - 50_000, duration: 0, answered: false, sipStatus: 486, reason: 'call-rejected', role: null, userAgent: null,
  };
  await stores.redis.rpush(spool.shards[0]!.key, JSON.stringify(row), JSON.stringify({ ...row, callId: 'late-spooled-other', fromUser: '15559990000' }));
  await waitRows(stores.pool, 'late-spooled-other');
  t.same(await callIds(stores.pool, 'cdrs', 'sip_callid = ?', ['late-spooled-restricted']), []);
  t.equal(await restrictedSkips(), skips + 1);
});

t.test('the audit: a row of the number after its restriction is a breach; held rows before it are not', async (t) => {
  const deps = {
    redis: stores.redis, pool: stores.pool, prefix: stores.prefix, hash: createHasher('x'), retentionDays: 30,
    bindings: createBindingStore(stores.redis, stores.prefix),
    isCallDataKey: (k: string) => createCallState(stores.redis, stores.prefix, 60).isLegKey(k) || k.endsWith('cdr:spool'),
  };
  const clean = await runAudit({ ...deps, restrictionHash: createHasher(KEY) });
  t.equal(clean.checks.cdr_restricted_number.breaches, 0, 'the held rows ended before the restriction');
  const planted = await insertCdr(stores.pool, acct2, { at: Date.now(), to: R });
  const bad = await runAudit({ ...deps, restrictionHash: createHasher(KEY) });
  t.equal(bad.checks.cdr_restricted_number.breaches, 1);
  t.same(bad.checks.cdr_restricted_number.samples, [`mysql cdrs cdr_id=${planted.id}`]);
  const blind = await runAudit({ ...deps, restrictionHash: null });
  t.match(blind.checks.cdr_restricted_number.samples, [/cannot be checked: PRIVACY_HASH_KEY is not set/], 'without the key the promise cannot be shown: a breach');
  await stores.pool.query('DELETE FROM cdrs WHERE cdr_id = ?', [planted.id]);
});

t.test('lifting the restriction: calls are recorded again on every instance', async (t) => {
  const del = await api(`/v1/restrictions/${encodeURIComponent(R)}`, 'DELETE');
  t.same([del.status, del.json()], [200, { restricted: false }]);
  t.equal((await api(`/v1/restrictions/${encodeURIComponent(R)}`, 'DELETE')).status, 404, 'not restricted any more');
  const id = await call(peerB, R, '15550008002');
  t.equal((await waitRows(stores.pool, id)).length, 1, 'recorded by B');
  const [audit] = await stores.pool.query<RowDataPacket[]>("SELECT kind FROM erasure_audit WHERE kind LIKE 'restriction%' ORDER BY id");
  t.same(audit.map((x) => x.kind), ['restriction', 'restriction', 'restriction_lifted']);
});

t.test('without PRIVACY_HASH_KEY restrictions are refused: 501', async (t) => {
  const plain = await freshStores('restrictions_nokey');
  const d = await startDaemon(plain, null, { waitConnected: false, env: { ADMIN_TOKEN: TOKEN } });
  t.teardown(async () => { await d.close(); await plain.close(); });
  const r = await request(`${d.httpUrl}/v1/restrictions/${BARE}`, { method: 'PUT', token: TOKEN });
  t.same([r.status, r.json().error.code], [501, 'not_configured']);
  t.match(r.json().error.message, /PRIVACY_HASH_KEY/);
});
