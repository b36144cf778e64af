// The spool writer over the real Redis and MariaDB: multi-row batches, exactly one row per leg,
// one writer at a time, safe trims, rows resolved late, and rows kept while MySQL is down.
import t from 'tap';
import { createAccountResolver } from '../../lib/calls/account-resolver.js';
import type { SpoolRow } from '../../lib/calls/row.js';
import { createSpool } from '../../lib/calls/spool.js';
import { createWriter } from '../../lib/calls/writer.js';
import { migrate } from '../../lib/db/migrate.js';
import { createPool, ensureDatabase, type Pool } from '../../lib/db/pool.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { clearPrefix, freshStores, provision, type Stores } from '../helpers/harness.js';
import { cdrRows, metric, uniqueCallId } from './helpers.js';

const silent = createLogger({ level: 'silent', hashKey: '' });
let stores: Stores;
let acct = '';

t.before(async () => {
  stores = await freshStores('calls_writer');
  await ensureDatabase({ url: stores.mysqlUrl, database: stores.database });
  await migrate(stores.pool, silent);
  acct = await provision(stores.pool, { realm: 'w.example', numbers: ['+15557770000'] });
  await provision(stores.pool, { realm: 'o.example', numbers: ['+15558880000'], disableCdrs: true });
});
t.teardown(() => stores.close());
t.beforeEach(async () => {
  await clearPrefix(stores.redis, stores.prefix);
  await stores.pool.query('DELETE FROM cdrs');
});

const T = Date.parse('2030-05-05T10:00:00Z');
function row(o: Partial<SpoolRow> = {}): SpoolRow {
  return {
    f: 1, callId: uniqueCallId('w'), accountSid: acct, direction: 'inbound', fromUser: '+15550001111', toUser: '+15557770000',
    remoteHost: '203.0.113.5', attemptedAt: T, answeredAt: T + 2000, terminatedAt: T + 62_500, duration: 60, answered: true,
    sipStatus: 200, reason: 'normal-release', role: 'uas', userAgent: 'Phone', ...o,
  };
}

function writer(o: { batchSize?: number; pool?: Pool; owner?: string } = {}) {
  const metrics = createMetrics('test');
  const config = { batchSize: o.batchSize ?? 200, flushMs: 1000, spoolMax: 1000, callStateTtlSeconds: 600, orphanTimeoutSeconds: 200, accountCacheMs: 0 };
  const spool = createSpool(stores.redis, stores.prefix, config.spoolMax);
  const pool = o.pool ?? stores.pool;
  const w = createWriter({
    spool, pool, accounts: createAccountResolver(pool, { cacheMs: 0, now: Date.now }), metrics, log: silent, config, owner: o.owner ?? 'w1',
  });
  return { w, spool, metrics };
}

const push = (spool: ReturnType<typeof createSpool>, ...rows: (SpoolRow | string)[]) =>
  stores.redis.rpush(spool.shards[0]!.key, ...rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))));

t.test('rows are written in multi-row batches of at most batchSize', async (t) => {
  const { w, spool, metrics } = writer({ batchSize: 2 });
  const rows = [row(), row(), row(), row(), row()];
  await push(spool, ...rows);
  t.equal(await w.pass(), 'drained');
  const stored = await cdrRows(stores.pool);
  t.same(stored.map((r) => r.sip_callid).sort(), rows.map((r) => r.callId).sort());
  const { values } = await metrics.cdrBatchDuration.get();
  t.equal(values.find((v) => v.metricName?.endsWith('_count'))?.value, 3, 'five rows, three INSERTs');
  t.equal(await metric(metrics.cdrsWritten), 5);
  t.equal(await spool.depth(), 0);
  t.match(stored[0], {
    account_sid: acct, direction: 'inbound', from_user: '+15550001111', to_user: '+15557770000', remote_host: '203.0.113.5',
    duration: 60, answered: 1, sip_status: 200, termination_reason: 'normal-release', role: 'uas', user_agent: 'Phone',
  });
  t.equal((stored[0].attempted_at as Date).toISOString(), '2030-05-05T10:00:00.000Z');
  t.equal((stored[0].terminated_at as Date).toISOString(), '2030-05-05T10:01:02.500Z');
});

t.test('the same row spooled twice (a crash between INSERT and LTRIM) is stored once', async (t) => {
  const { w, spool, metrics } = writer();
  const r = row();
  await push(spool, r, r);
  await w.pass();
  await push(spool, r);
  await w.pass();
  t.equal((await cdrRows(stores.pool, 'sip_callid = ?', [r.callId])).length, 1);
  t.equal(await metric(metrics.cdrsWritten), 1);
  t.equal(await metric(metrics.cdrsSkipped, { reason: 'duplicate' }), 2);
});

t.test('one writer at a time: the lock holder writes, the other leaves the spool alone', async (t) => {
  const a = writer({ owner: 'A' });
  const b = writer({ owner: 'B' });
  await push(a.spool, row());
  t.equal(await a.w.pass(), 'drained');
  await push(a.spool, row());
  t.equal(await b.w.pass(), 'not_owner');
  t.equal(await a.spool.depth(), 1, 'B wrote nothing');
  await a.w.close(); // releases the lock
  t.equal(await b.w.pass(), 'drained');
  t.equal((await cdrRows(stores.pool)).length, 2);
  await b.w.close();
});

t.test('a trim removes only the batch that was read, and only for the lock holder', async (t) => {
  const { spool: whole } = writer();
  await push(whole, row({ callId: 'one@x' }), row({ callId: 'two@x' }), row({ callId: 'three@x' }));
  const spool = whole.shards[0]!;
  t.ok(await spool.lock('A', 10_000));
  const batch = await spool.head(2);
  t.equal(await spool.trim('B', 10_000, batch), 'not_owner');
  t.equal(await spool.trim('A', 10_000, batch), 'trimmed');
  t.equal(await spool.trim('A', 10_000, batch), 'moved', 'a resent trim removes nothing more');
  t.same((await spool.head(10)).map((j: string) => (JSON.parse(j) as { callId: string }).callId), ['three@x']);
});

t.test('rows spooled while MySQL was down are resolved and checked for opt-out when written', async (t) => {
  const { w, spool, metrics } = writer();
  const inputs = (ruriUser: string) => ({ xAccountSid: null, ruriUser, ruriHost: null, fromHost: null });
  const known = row({ accountSid: null, resolve: inputs('+15557770000') });
  const opted = row({ accountSid: null, resolve: inputs('+15558880000') });
  const unknown = row({ accountSid: null, resolve: inputs('+19990000000') });
  await push(spool, known, opted, unknown);
  await w.pass();
  const stored = await cdrRows(stores.pool);
  t.same(stored.map((r) => [r.sip_callid, r.account_sid]), [[known.callId, acct]]);
  t.equal(await metric(metrics.cdrsSkipped, { reason: 'opted_out' }), 1);
  t.equal(await metric(metrics.cdrsSkipped, { reason: 'unknown_account' }), 1);
  t.equal(await spool.depth(), 0);
});

t.test('an unreadable spool entry is dropped and counted; the rest of its batch is written', async (t) => {
  const { w, spool, metrics } = writer();
  const good = row();
  await push(spool, 'not json', JSON.stringify({ f: 99 }), good);
  await w.pass();
  t.equal((await cdrRows(stores.pool)).length, 1);
  t.equal(await metric(metrics.cdrsSkipped, { reason: 'invalid' }), 2);
  t.equal(await spool.depth(), 0);
});

t.test('MySQL unreachable: the pass fails, rows stay spooled, and are written once it answers', async (t) => {
  const dead = createPool({ url: 'mysql://root@127.0.0.1:1/none', database: 'none' }, 1);
  t.teardown(() => dead.end());
  const down = writer({ pool: dead, owner: 'same' });
  const r = row();
  await push(down.spool, r);
  t.equal(await down.w.pass(), 'failed');
  t.equal(await down.spool.depth(), 1, 'kept');
  const up = writer({ owner: 'same' });
  t.equal(await up.w.pass(), 'drained');
  t.equal((await cdrRows(stores.pool, 'sip_callid = ?', [r.callId])).length, 1);
});
