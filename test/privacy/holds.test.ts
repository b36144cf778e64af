// Legal holds against the real MariaDB and Redis, over the modules the daemon wires (retention,
// erasure, closure, audit, holds) with an injected clock: held rows survive the purge (their day
// partition is dropped all the same), erasure and closure keep them and count them as `held`, the
// audit reports them as held and not as breaches, and once a hold is lifted (or lapses) the next
// purge takes the rows past retention. Holds and their history outlive every erasure.
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { createAccountResolver } from '../../lib/calls/account-resolver.js';
import { createCallState } from '../../lib/calls/correlate.js';
import { ensurePartitions, listPartitions } from '../../lib/db/cdr-partitions.js';
import type { SpoolRow } from '../../lib/calls/row.js';
import { createSpool } from '../../lib/calls/spool.js';
import { migrate } from '../../lib/db/migrate.js';
import { ensureDatabase } from '../../lib/db/pool.js';
import { createHasher, createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { createAccountChanges } from '../../lib/privacy/account-changes.js';
import { runAudit } from '../../lib/privacy/audit.js';
import { createHolds, holdSet } from '../../lib/privacy/holds.js';
import { createPrivacyService } from '../../lib/privacy/privacy.js';
import { createRetention } from '../../lib/privacy/retention.js';
import { createBindingStore } from '../../lib/register/bindings.js';
import { freshStores, provision, type Stores } from '../helpers/harness.js';
import { callIds, insertCdr, sorted, type InsertedCdr } from '../helpers/cdr-rows.js';

const DAY = 86_400_000;
const NOW = Date.parse('2030-05-20T12:00:00.000Z');
const CUTOFF = NOW - 30 * DAY;
const N = '+15553330001'; // the end user a narrowed hold names
const log = createLogger({ level: 'silent', hashKey: '' });
const hash = createHasher('holds-test');
const clock = { ms: NOW };

let stores: Stores;
let changes: ReturnType<typeof createAccountChanges>;
const metrics = createMetrics('test');
let service: ReturnType<typeof createPrivacyService>;
let holds: ReturnType<typeof createHolds>;
let retention: ReturnType<typeof createRetention>;
let spool: ReturnType<typeof createSpool>;
let whole = '';   // held as a whole
let narrow = '';  // held for N's calls only
let free = '';    // no hold

t.before(async () => {
  stores = await freshStores('privacy_holds');
  await ensureDatabase({ url: stores.mysqlUrl, database: stores.database });
  await migrate(stores.pool, log);
  // Day partitions from 40 days back, as a daemon running since then would have laid them out.
  await ensurePartitions(stores.pool, NOW - 40 * DAY, { behindDays: 1, aheadDays: 45 });
  whole = await provision(stores.pool, { realm: 'whole.example.com', user: 'wanda', password: 'pw' });
  narrow = await provision(stores.pool, { realm: 'narrow.example.com' });
  free = await provision(stores.pool, { realm: 'free.example.com' });
  spool = createSpool(stores.redis, stores.prefix, 1000);
  changes = createAccountChanges({ publisher: stores.redis, subscriber: stores.redis, prefix: stores.prefix, log });
  service = createPrivacyService({
    pool: stores.pool, bindings: createBindingStore(stores.redis, stores.prefix), calls: createCallState(stores.redis, stores.prefix, 3600),
    spool, accounts: createAccountResolver(stores.pool, { cacheMs: 0, now: () => clock.ms }), changes, forgetLocally: () => {},
    metrics, log, hash, now: () => clock.ms, exportStallMs: 30_000,
  });
  holds = createHolds({ pool: stores.pool, hash, log, now: () => clock.ms, exportStallMs: 30_000 });
  retention = createRetention({ pool: stores.pool, log, metrics, retentionDays: 30, batchSize: 2, clock: () => clock.ms });
});
t.teardown(async () => {
  await changes.close();
  await stores.close();
});

const rows: Record<string, InsertedCdr> = {};
const audit = () => runAudit({
  redis: stores.redis, pool: stores.pool, prefix: stores.prefix, hash, retentionDays: 30, restrictionHash: null,
  bindings: createBindingStore(stores.redis, stores.prefix), isCallDataKey: (k) => spool.isSpoolKey(k), now: () => clock.ms,
});
const partitionOf = async (name: string) => {
  const [[r]] = await stores.pool.query<RowDataPacket[]>(
    `SELECT PARTITION_NAME AS p FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'cdrs' AND PARTITION_NAME = ?`, [name]);
  return r?.p ?? null;
};

t.test('the held condition is TRUE or FALSE, never NULL, and matches the JS check', async (t) => {
  const set = holdSet([
    { holdId: 'a', accountSid: whole, number: null, numberHash: null, reference: 'r', until: null, createdAt: new Date(), createdBy: 'x', liftedAt: null, liftedBy: null },
    { holdId: 'b', accountSid: narrow, number: '15553330001', numberHash: 'h', reference: 'r', until: null, createdAt: new Date(), createdBy: 'x', liftedAt: null, liftedBy: null },
  ]);
  const cases: [string, string | null, string | null, boolean][] = [
    [whole, null, null, true], [narrow, N, null, true], [narrow, null, '15553330001', true], [narrow, null, null, false],
    [narrow, '15550000000', null, false], [free, N, N, false],
  ];
  for (const [sid, from, to, want] of cases) {
    const [[r]] = await stores.pool.query<RowDataPacket[]>(
      `SELECT ${set.where} AS held FROM (SELECT ? AS account_sid, ? AS from_user, ? AS to_user) x`, [...set.params, sid, from, to]);
    t.equal(r!.held === null ? 'NULL' : Number(r!.held), want ? 1 : 0, `SQL: ${sid.slice(0, 4)} ${from} ${to}`);
    t.equal(set.covers({ accountSid: sid, fromUser: from, toUser: to }), want, `JS: ${sid.slice(0, 4)} ${from} ${to}`);
  }
  t.equal(holdSet([]).where, 'FALSE');
});

t.test('held rows survive the purge: moved aside before their day partition is dropped', async (t) => {
  rows.wholeOld = await insertCdr(stores.pool, whole, { at: NOW - 35 * DAY });
  rows.wholeStraddle = await insertCdr(stores.pool, whole, { at: CUTOFF - 3_600_000 });
  rows.wholeRecent = await insertCdr(stores.pool, whole, { at: NOW - DAY });
  rows.narrowOldN = await insertCdr(stores.pool, narrow, { at: NOW - 36 * DAY, from: N });
  rows.narrowOldNTo = await insertCdr(stores.pool, narrow, { at: NOW - 33 * DAY, to: '15553330001' });
  rows.narrowOldOther = await insertCdr(stores.pool, narrow, { at: NOW - 36 * DAY, from: '15559990000' });
  rows.narrowRecentN = await insertCdr(stores.pool, narrow, { at: NOW - DAY, from: N });
  rows.narrowRecentOther = await insertCdr(stores.pool, narrow, { at: NOW - DAY, from: '15559990000' });
  rows.freeOld = await insertCdr(stores.pool, free, { at: NOW - 35 * DAY });
  rows.freeRecent = await insertCdr(stores.pool, free, { at: NOW - DAY });
  t.ok(await partitionOf('p20300415'), 'the day of the oldest held row has its own partition');

  const a = await holds.place(whole, { reference: 'case-2030-17', number: null, until: null }, 'ops');
  t.equal(a.created, true);
  const again = await holds.place(whole, { reference: 'case-2030-17', number: null, until: null }, 'ops');
  t.same([again.created, again.hold.hold_id], [false, a.hold.hold_id], 'the same reference on a standing hold is that hold');
  const b = await holds.place(narrow, { reference: 'subpoena 88', number: N, until: null }, 'ops');
  t.match(b.hold, { account_sid: narrow, number: '15553330001', active: true, created_by: 'ops', lifted_at: null });

  const r = await retention.purge();
  t.ok(r.partitionsDropped.includes('p20300415') && r.partitionsDropped.includes('p20300414'), `days dropped: ${r.partitionsDropped.join(' ')}`);
  t.equal(r.rowsHeld, 4, 'four held rows past retention moved aside');
  t.equal(await partitionOf('p20300415'), null, 'the partition that held them is gone');
  t.same(await callIds(stores.pool, 'cdrs_held'), sorted([rows.wholeOld!, rows.wholeStraddle!, rows.narrowOldN!, rows.narrowOldNTo!]));
  t.same(await callIds(stores.pool, 'cdrs'), sorted([rows.wholeRecent!, rows.narrowRecentN!, rows.narrowRecentOther!, rows.freeRecent!]),
    'cdrs keeps its 30 days only; unheld rows past retention are gone');
  const [[moved]] = await stores.pool.query<RowDataPacket[]>('SELECT cdr_id, from_user, attempted_at FROM cdrs_held WHERE sip_callid = ?', [rows.narrowOldN!.callId]);
  t.same([Number(moved!.cdr_id), moved!.from_user, (moved!.attempted_at as Date).getTime()], [rows.narrowOldN!.id, N, rows.narrowOldN!.at], 'moved whole, id kept');

  const second = await retention.purge();
  t.same([second.rowsHeld, second.heldReleased], [0, 0], 'a second purge moves and releases nothing');
  t.equal((await callIds(stores.pool, 'cdrs_held')).length, 4);
  await retention.measure();
  t.equal((await metrics.cdrsHeld.get()).values[0]!.value, 4, 'sip_sidecar_cdrs_held');
});

t.test('the audit reports held rows as held, not as breaches', async (t) => {
  // A held row still in cdrs past the cut-off (the purge has not run since) is held too.
  rows.wholeLate = await insertCdr(stores.pool, whole, { at: CUTOFF - 60_000 });
  const r = await audit();
  t.equal(r.checks.cdr_past_retention.breaches, 0);
  t.equal(r.held, 5);
  t.equal(r.ok, true);
  rows.freeLate = await insertCdr(stores.pool, free, { at: CUTOFF - 60_000 });
  const bad = await audit();
  t.equal(bad.checks.cdr_past_retention.breaches, 1, 'an unheld row past retention is still a breach');
  t.match(bad.checks.cdr_past_retention.samples[0], /^mysql cdrs 1 rows/);
  await retention.purge();
});

t.test('erasure keeps held rows, in both tables and in the spool, and says how many', async (t) => {
  const spooled: SpoolRow = {
    f: 1, callId: 'spooled-whole', accountSid: whole, direction: 'inbound', fromUser: '15557770000', toUser: '15550001111', remoteHost: '203.0.113.5',
    attemptedAt: NOW - 60_000, answeredAt: null, terminatedAt: NOW - 50_000, duration: 0, answered: false, sipStatus: 486, reason: 'call-rejected', role: null, userAgent: null,
  };
  await stores.redis.rpush(spool.shards[0]!.key, JSON.stringify(spooled), JSON.stringify({ ...spooled, callId: 'spooled-narrow-other', accountSid: narrow, fromUser: '15559990000' }));
  t.same(await service.eraseCdrs(whole), { cdrs: 0, spooled: 0, held: 5 }, 'the whole account is held: nothing goes');
  t.same(await service.eraseCdrsOfNumber(narrow, '15553330001'), { cdrs: 0, spooled: 0, held: 3 }, "N's calls are held, with or without +");
  t.same(await service.eraseCdrs(narrow), { cdrs: 1, spooled: 1, held: 3 }, 'the calls of other numbers go');
  t.same(await callIds(stores.pool, 'cdrs', 'account_sid = ?', [narrow]), sorted([rows.narrowRecentN!]));
  t.same((await stores.redis.lrange(spool.shards[0]!.key, 0, -1)).map((j) => (JSON.parse(j) as SpoolRow).callId), ['spooled-whole']);
});

t.test('account closure keeps held rows and the holds; everything else of the account goes', async (t) => {
  const counts = await service.closeAccount(whole);
  t.match(counts, { cdrs: 0, spooled: 0, held: 5, accounts: 1, clients: 1 });
  t.equal((await callIds(stores.pool, 'cdrs', 'account_sid = ?', [whole])).length + (await callIds(stores.pool, 'cdrs_held', 'account_sid = ?', [whole])).length, 4);
  t.equal(await stores.redis.llen(spool.shards[0]!.key), 1, 'its spooled row is held too');
  const [[acct]] = await stores.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM accounts WHERE account_sid = ?', [whole]);
  t.equal(Number(acct!.n), 0, 'the account itself is gone');
  t.equal((await holds.list(whole)).length, 1, 'the hold outlives the account');
});

t.test('lifting a hold lets the next purge take the rows past retention; its record stays', async (t) => {
  const [h] = await holds.list(narrow);
  clock.ms = NOW + 1000;
  const lifted = await holds.lift(h!.hold_id, 'legal-2');
  t.match(lifted, { active: false, lifted_by: 'legal-2', number: null }, 'lifted; the number is forgotten');
  const [[row]] = await stores.pool.query<RowDataPacket[]>('SELECT number, number_hash FROM legal_holds WHERE hold_id = ?', [h!.hold_id]);
  t.same([row!.number, row!.number_hash], [null, hash('15553330001')], 'only the keyed hash of the number remains');
  t.same(await holds.lift(h!.hold_id, 'legal-3'), lifted, 'lifting again changes nothing');

  const r = await retention.purge();
  t.equal(r.heldReleased, 2, "N's two rows past retention go");
  t.same(await callIds(stores.pool, 'cdrs_held', 'account_sid = ?', [narrow]), []);
  t.same(await callIds(stores.pool, 'cdrs', 'account_sid = ?', [narrow]), sorted([rows.narrowRecentN!]), 'the row within retention stays until its 30 days');
  t.equal((await audit()).checks.cdr_past_retention.breaches, 0);
  t.equal((await audit()).held, 3, "the closed account's rows are still held");
});

t.test('a hold that lapses (until) is lifted by time alone', async (t) => {
  const [w] = await holds.list(whole);
  await holds.lift(w!.hold_id, 'ops');
  const old = await insertCdr(stores.pool, free, { at: NOW - 31 * DAY });
  const lapse = await holds.place(free, { reference: 'order 5', number: null, until: new Date(NOW + 2 * DAY) }, 'ops');
  t.equal(lapse.hold.until, new Date(NOW + 2 * DAY).toISOString());
  let r = await retention.purge();
  t.equal(r.rowsHeld, 1, 'held while the order stands');
  t.equal(r.heldReleased, 3, 'the lifted hold keeps nothing any more');
  t.same(await callIds(stores.pool, 'cdrs_held', 'account_sid = ?', [free]), [old.callId]);
  clock.ms = NOW + 2 * DAY + 1;
  t.equal((await holds.list(free))[0]!.active, false, 'lapsed');
  r = await retention.purge();
  t.equal(r.heldReleased, 1, 'the lapsed hold keeps nothing');
  t.same(await callIds(stores.pool, 'cdrs_held'), []);
  t.equal((await partitionOf('p20300415')), null);
  t.ok((await listPartitions(stores.pool))!.length > 1);
});

t.test('holds and their history outlive every erasure', async (t) => {
  const [events] = await stores.pool.query<RowDataPacket[]>('SELECT h.account_sid, e.event, e.actor, e.reference FROM legal_hold_events e JOIN legal_holds h USING (hold_id) ORDER BY e.id');
  t.same(events.map((e) => [e.account_sid === whole ? 'whole' : e.account_sid === narrow ? 'narrow' : 'free', e.event, e.actor, e.reference]), [
    ['whole', 'placed', 'ops', 'case-2030-17'],
    ['narrow', 'placed', 'ops', 'subpoena 88'],
    ['narrow', 'lifted', 'legal-2', 'subpoena 88'],
    ['whole', 'lifted', 'ops', 'case-2030-17'],
    ['free', 'placed', 'ops', 'order 5'],
  ], 'who, what and the reference; lifting twice is recorded once');
  t.notOk(JSON.stringify(events).includes('5553330001'), 'no number in the history');
});
