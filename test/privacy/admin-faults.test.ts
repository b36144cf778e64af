// The admin API when a store is away or silent (real TCP proxies in front of the shared Redis and MariaDB,
// cut, holding replies, restored): every request is answered — 503 with a JSON error and Retry-After, or 200 where
// the store it needs is up — and no MySQL lock is left held while Redis is waited on. And a path
// that matches no route never reaches a log line.
import t, { type Test } from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { LOCKS, scopedLockName } from '../../lib/db/locks.js';
import { eventually, freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { startCutProxy, type CutProxy } from '../helpers/tcp-proxy.js';
import { insertCdrRow } from './helpers.js';
import { metric } from '../calls/helpers.js';

const TOKEN = 'admin-token-0123456789abcdef';
/** Well above the Redis command timeout, so the outage tests below are answered by the outage, not the deadline. */
const DEADLINE_MS = 3000;
let stores: Stores;
let redisProxy: CutProxy;
let mysqlProxy: CutProxy;
let d: Daemon;
let acct: string;

t.before(async () => {
  stores = await freshStores('admin_faults');
  redisProxy = await startCutProxy(6379);
  mysqlProxy = await startCutProxy(3306);
  d = await startDaemon(stores, null, {
    waitConnected: false,
    env: {
      ADMIN_TOKEN: TOKEN, REDIS_URL: redisProxy.redisUrl(), MYSQL_URL: mysqlProxy.mysqlUrl(stores.database), REDIS_COMMAND_TIMEOUT_MS: '300',
      ADMIN_REQUEST_TIMEOUT_MS: String(DEADLINE_MS),
    },
  });
  acct = await provision(stores.pool, { realm: 'faults.example.com', numbers: ['15550004444'] });
  await insertCdrRow(stores.pool, acct);
});
t.teardown(async () => {
  await d.close();
  await redisProxy.close();
  await mysqlProxy.close();
  await stores.close();
});

const ENDPOINTS: [string, string, string?][] = [
  ['GET', 'cdrs'], ['DELETE', 'cdrs'], ['DELETE', 'cdrs?number=15550004444'], ['GET', 'registrations'],
  ['DELETE', 'registrations'], ['PUT', 'cdr-opt-out', '{"disable_cdrs":false}'], ['DELETE', ''],
];
const NO_ANSWER_MS = 15_000;

async function call(method: string, what: string, body?: string) {
  const path = `/v1/accounts/${acct}${what ? `/${what}` : ''}`;
  try {
    const r = await fetch(`${d.httpUrl}${path}`, {
      method, body, headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(NO_ANSWER_MS),
    });
    const text = await r.text();
    return { status: r.status, retryAfter: r.headers.get('retry-after'), type: r.headers.get('content-type'), text };
  } catch (err) {
    return { status: 0, retryAfter: null, type: null, text: `no answer within ${NO_ANSWER_MS} ms (${(err as Error).name})` };
  }
}

const lockHolder = async () => {
  const [[r]] = await stores.pool.query<RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS holder', [scopedLockName(LOCKS.cdrWrite, stores.database)]);
  return r!.holder as number | null;
};

function expect503(t: Test, label: string, r: Awaited<ReturnType<typeof call>>) {
  t.equal(r.status, 503, `${label}: 503 (${r.text.slice(0, 120)})`);
  t.equal(r.retryAfter, '5', `${label}: Retry-After`);
  t.match(r.type, /^application\/json/, `${label}: JSON`);
  t.match(JSON.parse(r.text), { error: { code: 'unavailable' } }, `${label}: coded error`);
}

t.test('Redis away: every admin request answered 503 (the export, MySQL only, 200), no MySQL lock held', async (t) => {
  redisProxy.cut();
  for (const [method, what, body] of ENDPOINTS) {
    const label = `${method} …/${what}`;
    const r = await call(method, what, body);
    if (method === 'GET' && what === 'cdrs') {
      t.equal(r.status, 200, `${label}: the export needs MySQL only`);
      t.equal(r.text.trim().split('\n').length, 1, `${label}: the row exported`);
    } else expect503(t, label, r);
    t.equal(await lockHolder(), null, `${label}: ${LOCKS.cdrWrite} not held meanwhile`);
  }
  redisProxy.restore();
  await eventually(async () => (await call('DELETE', 'registrations')).status === 200, 10_000, 100, 'DELETE …/registrations answered 200 once Redis is back');
});

t.test('MySQL stalled (connections accepted, queries never answered): every admin request answered 503 at its deadline', async (t) => {
  const refusedBefore = mysqlProxy.refused;
  const answered503 = await metric(d.metrics.adminRequests, { status: '503' });
  // Every request's first query carries the account's id: from then on its connection gets no reply.
  mysqlProxy.holdRepliesAfter(acct);
  t.teardown(() => { mysqlProxy.cut(); mysqlProxy.restore(); }); // drops the held connections
  const results = await Promise.all(ENDPOINTS.map(async ([method, what, body]) => [`${method} …/${what}`, await call(method, what, body)] as const));
  for (const [label, r] of results) expect503(t, label, r);
  t.equal(mysqlProxy.refused, refusedBefore, 'no connection was refused: MySQL was silent, not down');
  t.equal(await metric(d.metrics.adminRequests, { status: '503' }), answered503 + ENDPOINTS.length, 'each counted as a 503');
  const lines = d.logs.filter((l) => String(l.msg).startsWith('admin request answered 503: no answer from the stores'));
  t.equal(lines.length, ENDPOINTS.length, 'each logged as a missed deadline');
  t.match(lines[0], { level: 'warn', err: { code: 'ERR_DEADLINE' } }, 'at warn, with the coded error');
  t.notOk(d.rawLogs.some((l) => l.includes(acct)), 'no account id in any log line');
});

t.test('MySQL silent mid-export: the streaming answer is cut at ADMIN_REQUEST_TIMEOUT_MS, not left open', async (t) => {
  // The status line is sent before the first row: from then on no request deadline applies, only the export's
  // own limit on waiting for MySQL's next row.
  mysqlProxy.holdRepliesAfter('FROM cdrs_held');
  t.teardown(() => { mysqlProxy.cut(); mysqlProxy.restore(); });
  const started = Date.now();
  const r = await fetch(`${d.httpUrl}/v1/accounts/${acct}/cdrs`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(NO_ANSWER_MS) });
  t.equal(r.status, 200, 'the export had started streaming');
  const body = await r.text().then(() => 'ended', (err: Error) => `${err.name}: ${err.message}`);
  const took = Date.now() - started;
  t.match(body, /^TypeError/, `the body broke off (${body}), it did not end as if complete`);
  t.notMatch(body, /abort|timeout/i, 'broken off by the daemon, not by the test giving up');
  t.ok(took >= DEADLINE_MS - 100 && took < NO_ANSWER_MS, `after about ADMIN_REQUEST_TIMEOUT_MS (${took} ms)`);
  const line = await eventually(() => d.logs.find((l) => l.msg === 'admin response cut short: store unavailable'), 5000, 50, 'the cut logged');
  t.match(line, { level: 'error', err: { code: 'ERR_MYSQL_UNAVAILABLE' } }, 'at error, as a MySQL outage');
  // Released to the pool mid-result it would be lost to every later query (or handed to one): closed instead.
  await eventually(() => mysqlProxy.holding === 0, 5000, 50, 'the stalled export\'s MySQL connection closed by the daemon');
  mysqlProxy.restore();
  const again = await fetch(`${d.httpUrl}/v1/accounts/${acct}/cdrs`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(NO_ANSWER_MS) });
  t.equal(again.status, 200, 'the next export is served');
  t.match(await again.text(), /"cdr_id"/, 'in full');
});

t.test('MySQL away: every admin request answered 503', async (t) => {
  mysqlProxy.cut();
  t.teardown(() => mysqlProxy.restore());
  for (const [method, what, body] of ENDPOINTS) expect503(t, `${method} …/${what}`, await call(method, what, body));
});

t.test('a path that matches no route is answered 404 and logged by its shape only', async (t) => {
  const paths = ['/v1/locations/alice%40example.com', '/v1/numbers/+15551230000', `/v1/accounts/${acct}/calls/15550004444`];
  for (const p of paths) {
    const r = await fetch(`${d.httpUrl}${p}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    t.equal(r.status, 404, p);
    t.notOk((await r.text()).includes('alice'), 'the answer does not echo the path');
  }
  const lines = d.rawLogs.filter((l) => l.includes('admin request refused'));
  t.ok(lines.length >= paths.length, 'each refusal logged');
  for (const needle of ['alice', '15551230000', '15550004444', acct]) t.notOk(d.rawLogs.some((l) => l.includes(needle)), `no "${needle}" in any log line`);
});
