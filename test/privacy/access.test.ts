// Who may use the admin API for what, and the record of who did: scoped tokens (each scope refused
// where it is missing, with a 403 naming it), ADMIN_TOKEN as the all-scope "default", rotation
// (old and new valid together until the old is removed), refusal of a client address that keeps
// failing, and the access log in MySQL (every request; no number, sid, token or address in clear;
// exported by a read token; untouched by an account's erasure; purged after 400 days).
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { randomUUID } from 'node:crypto';
import { createHasher } from '../../lib/log.js';
import { freshStores, provision, startDaemon, type Daemon, type Stores, eventually } from '../helpers/harness.js';
import { insertCdr } from '../helpers/cdr-rows.js';
import { request } from '../helpers/http-client.js';
import { metric } from '../calls/helpers.js';

const DAY = 86_400_000;
const HASH_KEY = 'access-test-log-hash-key';
const hash = createHasher(HASH_KEY);
const T = {
  default: 'default-token-0123456789ab', read: 'read-only-token-0123456789', erase: 'erase-only-token-012345678',
  hold: 'hold-only-token-0123456789', optout: 'optout-only-token-01234567', old: 'ops-2025-token-0123456789a', new: 'ops-2026-token-0123456789a',
};
const NUMBER = '+15550007777';

let stores: Stores;
let d: Daemon;
let acct = '';
const env = (tokens: string) => ({
  ADMIN_TOKEN: T.default, ADMIN_TOKENS: tokens, LOG_HASH_KEY: HASH_KEY, PRIVACY_HASH_KEY: 'access-test-privacy-hash-key-0123456789',
  ADMIN_AUTH_FAIL_LIMIT: '3', ADMIN_AUTH_BLOCK_SECONDS: '120',
});
const ALL = `reader:read:${T.read},eraser:erase:${T.erase},holder:hold:${T.hold},opter:optout:${T.optout},ops-2025:read+erase:${T.old},ops-2026:read+erase:${T.new}`;

t.before(async () => {
  stores = await freshStores('admin_access');
  d = await startDaemon(stores, null, { waitConnected: false, env: env(ALL) });
  acct = await provision(stores.pool, { realm: 'access.example.com' });
});
t.teardown(async () => {
  await d.close();
  await stores.close();
});

const api = (path: string, token: string | null, o: { method?: string; body?: string; from?: string } = {}) =>
  request(`${d.httpUrl}${path}`, { method: o.method, token, body: o.body, localAddress: o.from });

t.test('each scope is refused where it is missing, with a 403 naming it', async (t) => {
  const hold = randomUUID();
  const routes: [string, string, string, string?][] = [
    ['GET', `/v1/accounts/${acct}/cdrs`, 'read'],
    ['GET', `/v1/accounts/${acct}/registrations`, 'read'],
    ['GET', '/v1/access-log', 'read'],
    ['DELETE', `/v1/accounts/${acct}/cdrs`, 'erase'],
    ['DELETE', `/v1/accounts/${acct}/registrations`, 'erase'],
    ['DELETE', `/v1/accounts/${acct}`, 'erase'],
    ['PUT', `/v1/restrictions/${encodeURIComponent(NUMBER)}`, 'erase'],
    ['GET', `/v1/restrictions/${encodeURIComponent(NUMBER)}`, 'erase'],
    ['DELETE', `/v1/restrictions/${encodeURIComponent(NUMBER)}`, 'erase'],
    ['PUT', `/v1/accounts/${acct}/cdr-opt-out`, 'optout', '{"disable_cdrs":true}'],
    ['PUT', `/v1/accounts/${acct}/legal-hold`, 'hold', '{"reference":"x"}'],
    ['GET', `/v1/accounts/${acct}/legal-hold`, 'hold'],
    ['GET', `/v1/legal-holds/${hold}`, 'hold'],
    ['DELETE', `/v1/legal-holds/${hold}`, 'hold'],
  ];
  const tokens: [string, string][] = [['read', T.read], ['erase', T.erase], ['hold', T.hold], ['optout', T.optout]];
  for (const [method, path, scope, body] of routes) {
    for (const [has, token] of tokens) {
      if (has === scope) continue;
      const r = await api(path, token, { method, body });
      t.equal(r.status, 403, `${method} ${path.replace(acct, '{sid}')} with only "${has}"`);
      t.same(r.json().error.scope, scope);
      t.equal(r.json().error.code, 'forbidden');
    }
  }
  const [[acc]] = await stores.pool.query<RowDataPacket[]>('SELECT disable_cdrs FROM accounts WHERE account_sid = ?', [acct]);
  t.equal(acc!.disable_cdrs, 0, 'nothing refused was done');
  t.equal((await api(`/v1/accounts/${acct}/cdrs`, T.read)).status, 200, 'with the scope: served');
  t.equal((await api(`/v1/accounts/${acct}/legal-hold`, T.hold)).status, 200);
  t.equal((await api(`/v1/accounts/${acct}/legal-hold`, T.default)).status, 200, 'ADMIN_TOKEN is the all-scope "default"');
  t.equal((await api(`/v1/accounts/${acct}/cdr-opt-out`, T.default, { method: 'PUT', body: '{"disable_cdrs":false}' })).status, 200);
});

t.test('a rotated token works while the old one still does, until it is removed', async (t) => {
  t.equal((await api(`/v1/accounts/${acct}/registrations`, T.old)).status, 200, 'old');
  t.equal((await api(`/v1/accounts/${acct}/registrations`, T.new)).status, 200, 'new, at the same time');
  const rotated = await startDaemon(stores, null, { waitConnected: false, env: env(`ops-2026:read+erase:${T.new}`) });
  t.teardown(() => rotated.close());
  const at = (token: string) => request(`${rotated.httpUrl}/v1/accounts/${acct}/registrations`, { token, localAddress: '127.0.0.3' });
  t.equal((await at(T.old)).status, 401, 'the old one, once removed, is refused');
  t.equal((await at(T.new)).status, 200);
  t.equal((await at(T.read)).status, 401, 'and so is every token not listed');
});

t.test('a client address that keeps failing is refused for a while, and counted; others are not', async (t) => {
  const from = '127.0.0.9';
  const path = `/v1/accounts/${acct}/registrations`;
  for (let i = 0; i < 3; i++) t.equal((await api(path, `wrong-token-${i}-0123456789`, { from })).status, 401, `failure ${i + 1}`);
  t.equal(await metric(d.metrics.adminSourcesBlocked), 1, 'sip_sidecar_admin_sources_blocked_total');
  const blocked = await api(path, T.read, { from });
  t.equal(blocked.status, 429, 'refused, even with a valid token');
  t.equal(blocked.json().error.code, 'too_many_failures');
  t.ok(Number(blocked.headers['retry-after']) > 0);
  t.equal((await api(path, T.read, { from: '127.0.0.10' })).status, 200, 'another address is served');
  const keys = await stores.redis.keys(`${stores.prefix}admin-*`);
  t.equal(keys.filter((k) => k.includes('admin-block:')).length, 1);
  t.notOk(keys.join().includes('127.0.0'), 'keys hold a keyed hash of the address, not the address');
  const ttl = await stores.redis.ttl(keys.find((k) => k.includes('admin-block:'))!);
  t.ok(ttl > 0 && ttl <= 120, `blocked for ADMIN_AUTH_BLOCK_SECONDS (${ttl} s left)`);
});

t.test('the access log: every request, no identifier in clear, exported by a read token, kept through erasure', async (t) => {
  await insertCdr(stores.pool, acct, { at: Date.now() - DAY, from: NUMBER });
  const erase = await api(`/v1/accounts/${acct}/cdrs?number=${encodeURIComponent(NUMBER)}`, T.erase, { method: 'DELETE' });
  t.equal(erase.status, 200);
  await api('/v1/accounts/not-a-uuid/cdrs', T.read);
  await api('/v1/nowhere', T.read);
  const before = await eventually(async () => {
    const [rows] = await stores.pool.query<RowDataPacket[]>('SELECT * FROM admin_access_log ORDER BY id');
    return rows.some((r) => r.route === '(no route)' && r.status === 404) ? rows : null;
  }, 5000);
  t.ok(before, 'the requests are in MySQL, the last one too');
  t.ok(before!.length >= 57, `one entry per request (${before!.length})`);
  const rows = before!;
  const text = JSON.stringify(rows);
  for (const [what, secret] of [['account_sid', acct], ['number', NUMBER], ['number', NUMBER.slice(1)], ['address', '127.0.0.'], ...Object.entries(T).map(([k, v]) => [`token ${k}`, v])]) {
    t.notOk(text.includes(secret!), `no ${what} in clear`);
  }
  const del = rows.find((r) => r.method === 'DELETE' && r.route === '/v1/accounts/{sid}/cdrs' && r.status === 200);
  t.match(del, { token_name: 'eraser', subject_hash: hash(acct), number_hash: hash(NUMBER.slice(1)), client_hash: hash('client:127.0.0.1') });
  t.same(typeof del!.counts === 'string' ? JSON.parse(del!.counts) : del!.counts, { cdrs: 1, spooled: 0, held: 0 }, 'with its counts');
  t.ok(rows.some((r) => r.status === 403 && r.token_name === 'reader' && r.route === '/v1/accounts/{sid}/legal-hold'), 'refusals too');
  t.ok(rows.some((r) => r.status === 401 && r.token_name === null && r.client_hash === hash('client:127.0.0.9') && r.route === '/v1/accounts/{sid}/registrations'),
    'failed authentications, by hashed address, with the route');
  t.ok(rows.some((r) => r.status === 429), 'and blocked ones');
  t.ok(rows.some((r) => r.status === 400 && r.route === '/v1/accounts/{sid}/cdrs' && r.subject_hash === null), 'a bad sid is not recorded');
  t.ok(rows.some((r) => r.status === 404 && r.route === '(no route)'), 'nor an unknown path');
  t.ok(rows.every((r) => r.duration_ms >= 0 && r.at instanceof Date));

  const refused = await api('/v1/access-log', T.erase);
  t.equal(refused.json().error.scope, 'read');
  const exported = await api(`/v1/access-log?since=${new Date(Date.now() - DAY).toISOString()}`, T.read);
  t.equal(exported.status, 200);
  const lines = exported.text.trim().split('\n').map((l) => JSON.parse(l));
  t.ok(lines.length >= rows.length, `every entry exported (${lines.length})`);
  t.match(lines.find((l) => l.id === del!.id), { route: '/v1/accounts/{sid}/cdrs', token_name: 'eraser', counts: { cdrs: 1 }, at: (del!.at as Date).toISOString() });

  const about = rows.filter((r) => r.subject_hash === hash(acct)).length;
  t.ok(about > 20, `entries about the account (${about})`);
  const close = await api(`/v1/accounts/${acct}`, T.erase, { method: 'DELETE' });
  t.equal(close.status, 200);
  const left = await eventually(async () => {
    const [[r]] = await stores.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM admin_access_log WHERE subject_hash = ?', [hash(acct)]);
    return Number(r!.n) > about ? Number(r!.n) : 0;
  }, 5000);
  t.equal(left, about + 1, "the closed account's entries stay, and the closure has its own");
});

t.test('entries older than 400 days go at the next purge, younger ones stay', async (t) => {
  const entry = (daysAgo: number) => [new Date(Date.now() - daysAgo * DAY), 'reader', 'GET', '/v1/access-log', null, null, null, 200, null, 1, 'x'];
  await stores.pool.query(`INSERT INTO admin_access_log (at, token_name, method, route, subject_hash, number_hash, hold_id, status, counts, duration_ms, client_hash)
    VALUES ?`, [[entry(401), entry(399)]]);
  const restarted = await startDaemon(stores, null, { waitConnected: false, env: env(ALL) }); // purges at start
  t.teardown(() => restarted.close());
  const old = await eventually(async () => {
    const [rows] = await stores.pool.query<RowDataPacket[]>("SELECT at FROM admin_access_log WHERE client_hash = 'x'");
    return rows.length === 1 ? rows : null;
  }, 5000);
  t.ok(old, 'one of the two left');
  t.ok(Date.now() - (old![0]!.at as Date).getTime() < 400 * DAY, 'the one within 400 days');
});
