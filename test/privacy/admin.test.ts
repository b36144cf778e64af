// The admin API through the real HTTP server: authentication, validation, export,
// erasure by account and by number, registrations, opt-out across instances, closure.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, poll, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { Device } from '../helpers/ua.js';
import { CDR_VERBS, cdrRows, leg, metric, redisDump, tod, waitMetric, waitRows } from '../calls/helpers.js';
import { insertCdrRow, type CdrOptions } from './helpers.js';

const TOKEN = 'admin-token-0123456789abcdef';
let stores: Stores;
let peer: DrachtioPeer;
let a: Daemon;
let acct: string;
let other: string;

t.before(async () => {
  stores = await freshStores('admin');
  peer = await DrachtioPeer.listen();
  a = await startDaemon(stores, peer, { env: { ADMIN_TOKEN: TOKEN, CDR_ACCOUNT_CACHE_MS: '5000' } });
  await peer.waitForRoutes(CDR_VERBS);
  acct = await provision(stores.pool, { realm: 'adm.example.com', user: 'erin', password: 'pw-erin', numbers: ['15550001111'] });
  other = await provision(stores.pool, { realm: 'other.example.com', user: 'oscar', password: 'pw-oscar', numbers: ['15550002222'] });
});
t.teardown(async () => {
  await a.close();
  await peer.close();
  await stores.close();
});

const api = (path: string, init: RequestInit & { token?: string | null } = {}) => {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return fetch(`${a.httpUrl}${path}`, { ...init, headers });
};
const now = () => tod(new Date().toISOString());

const insertCdr = (accountSid: string, o: CdrOptions = {}) => insertCdrRow(stores.pool, accountSid, o);
const count = async (where: string, params: unknown[]) => {
  const [[r]] = await stores.pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM cdrs WHERE ${where}`, params);
  return Number(r!.n);
};

t.test('missing, wrong and empty tokens get 401', async (t) => {
  for (const token of [null, 'wrong-token-0123456789abcdef', '']) {
    const r = await api(`/v1/accounts/${acct}/registrations`, { token });
    t.equal(r.status, 401, `token ${JSON.stringify(token)}`);
    t.equal(r.headers.get('www-authenticate'), 'Bearer');
    t.match(await r.json(), { error: { code: 'unauthorized' } });
  }
  const basic = await fetch(`${a.httpUrl}/v1/accounts/${acct}/registrations`, { headers: { authorization: `Basic ${TOKEN}` } });
  t.equal(basic.status, 401, 'only Bearer');
});

t.test('malformed requests get 400 with a message; unknown accounts 404; wrong methods 405', async (t) => {
  const bad: [string, RequestInit?][] = [
    ['/v1/accounts/not-a-uuid/cdrs'],
    [`/v1/accounts/${acct}/cdrs?since=yesterday`],
    [`/v1/accounts/${acct}/cdrs?since=2026-13-45`],
    [`/v1/accounts/${acct}/cdrs?until=2026-01-01%27%3B%20DROP%20TABLE%20cdrs%3B--`],
    [`/v1/accounts/${acct}/cdrs?format=xml`],
    [`/v1/accounts/${acct}/cdrs?since=2020-01-01&until=2026-01-01`],
    [`/v1/accounts/${acct}/cdrs?since=2026-02-01&until=2026-01-01`],
    [`/v1/accounts/${acct}/cdrs?limit=5`],
    [`/v1/accounts/${acct}/cdrs?number=1%27%20OR%201%3D1`, { method: 'DELETE' }],
    [`/v1/accounts/${acct}/cdr-opt-out`, { method: 'PUT', body: 'disable' }],
    [`/v1/accounts/${acct}/cdr-opt-out`, { method: 'PUT', body: '{"disable_cdrs":"yes"}' }],
    [`/v1/accounts/${acct}/cdr-opt-out`, { method: 'PUT', body: '{"disable_cdrs":true,"x":1}' }],
    [`/v1/accounts/${acct}/cdr-opt-out`, { method: 'PUT', body: JSON.stringify({ disable_cdrs: true, pad: 'x'.repeat(2000) }) }],
  ];
  for (const [path, init] of bad) {
    const r = await api(path, init);
    t.equal(r.status, 400, `${init?.method ?? 'GET'} ${path}`);
    const body = await r.json() as { error: { code: string; message: string } };
    t.equal(body.error.code, 'bad_request');
    t.ok(body.error.message.length > 5, body.error.message);
  }
  t.equal(await count('1=1', []), 0, 'nothing was touched');
  const [[acc]] = await stores.pool.query<RowDataPacket[]>('SELECT disable_cdrs FROM accounts WHERE account_sid = ?', [acct]);
  t.equal(acc!.disable_cdrs, 0, 'opt-out unchanged by bad bodies');

  const unknown = await api(`/v1/accounts/${randomUUID()}/cdrs`);
  t.equal(unknown.status, 404);
  t.match(await unknown.json(), { error: { code: 'account_not_found' } });
  t.equal((await api(`/v1/accounts/${acct}/cdrs`, { method: 'POST' })).status, 405);
  t.equal((await api(`/v1/accounts/${acct}/nothing`)).status, 404);
});

t.test('erasure by number removes that end user\'s calls, as caller or callee, with or without +', async (t) => {
  const mine = [await insertCdr(acct, { from: '15553334444' }), await insertCdr(acct, { to: '+15553334444' })];
  const keep = [await insertCdr(acct, { from: '15550000000' }), await insertCdr(other, { from: '15553334444' })];
  const r = await api(`/v1/accounts/${acct}/cdrs?number=15553334444`, { method: 'DELETE' });
  t.equal(r.status, 200);
  t.same(await r.json(), { erased: { cdrs: 2, spooled: 0, held: 0 } });
  for (const id of mine) t.equal(await count('sip_callid = ?', [id]), 0);
  for (const id of keep) t.equal(await count('sip_callid = ?', [id]), 1, 'other numbers and other accounts untouched');
});

t.test('erasure by account removes all its CDRs and nothing else', async (t) => {
  const others = await count('account_sid = ?', [other]);
  const mine = await count('account_sid = ?', [acct]);
  t.ok(mine > 0);
  const r = await api(`/v1/accounts/${acct}/cdrs`, { method: 'DELETE' });
  t.same(await r.json(), { erased: { cdrs: mine, spooled: 0, held: 0 } });
  t.equal(await count('account_sid = ?', [acct]), 0);
  t.equal(await count('account_sid = ?', [other]), others);
  const [audit] = await stores.pool.query<RowDataPacket[]>('SELECT kind, subject_hash, counts FROM erasure_audit ORDER BY id');
  t.same(audit.map((x) => x.kind), ['cdrs_by_number', 'cdrs']);
  const text = JSON.stringify(audit);
  for (const secret of [acct, '15553334444']) t.notOk(text.includes(secret), 'the audit log names no account or number');
});

t.test('registrations: listed, then erased, other accounts untouched', async (t) => {
  const erin = Device.via(peer, { user: 'erin', password: 'pw-erin', domain: 'adm.example.com', sourceAddress: '192.0.2.61', sourcePort: 5061 });
  const oscar = Device.via(peer, { user: 'oscar', password: 'pw-oscar', domain: 'other.example.com', sourceAddress: '192.0.2.62' });
  t.equal((await erin.register({ userAgent: 'Erin/2' })).status, 200);
  t.equal((await oscar.register()).status, 200);
  const list = await (await api(`/v1/accounts/${acct}/registrations`)).json() as { registrations: Record<string, unknown>[] };
  t.equal(list.registrations.length, 1);
  t.match(list.registrations[0], { aor: 'sip:erin@adm.example.com', source_address: '192.0.2.61', source_port: 5061, transport: 'udp', user_agent: 'Erin/2' });
  const del = await api(`/v1/accounts/${acct}/registrations`, { method: 'DELETE' });
  t.same(await del.json(), { erased: { registrations: 1 } });
  t.same((await (await api(`/v1/accounts/${acct}/registrations`)).json() as { registrations: unknown[] }).registrations, []);
  t.equal((await stores.keys(`${stores.prefix}bind:{b*}:${other}:*`)).length, 1, 'the other account still registered');
});

t.test('opt-out through one instance stops a call in progress from being recorded on another', async (t) => {
  const b = await startDaemon(stores, peer, { env: { CDR_ACCOUNT_CACHE_MS: '5000' } });
  t.teardown(() => b.close());
  await peer.waitForRoutes(CDR_VERBS, { clients: 2 });
  // Warm both instances' caches with the account opted in: only the notification can change them.
  const warm = [leg({ toUser: '15550001111', sourceIp: '203.0.113.5' }), leg({ toUser: '15550001111', sourceIp: '203.0.113.5' })];
  for (const l of warm) {
    await peer.sendCdr('attempt', 'network', now(), l.invite);
    await peer.sendCdr('stop', 'application', now(), 'call-rejected', l.final(486));
  }
  for (const l of warm) t.equal((await waitRows(stores.pool, l.callId)).length, 1, 'recorded while opted in');

  const call = leg({ toUser: '15550001111', sourceIp: '203.0.113.5' });
  await peer.sendCdr('attempt', 'network', now(), call.invite);
  await peer.sendCdr('start', 'application', now(), 'uas', call.ok);
  const put = await api(`/v1/accounts/${acct}/cdr-opt-out`, { method: 'PUT', body: '{"disable_cdrs": true}', headers: { 'content-type': 'application/json' } });
  t.same(await put.json(), { account_sid: acct, disable_cdrs: true });
  // Round-robin decides where the next stop goes: steer it to B, which only the
  // notification can have told. A stray stop (no such call) shows whose turn it is.
  const stopsOn = (d: Daemon) => metric(d.metrics.cdrEvents, { type: 'stop' });
  for (let i = 0; i < 2; i++) {
    const before = await stopsOn(b);
    await peer.sendCdr('stop', 'network', now(), 'normal-release', leg().bye);
    if (await poll(async () => (await stopsOn(b)) > before, 1000)) continue;
    break; // that stray went to A, so the next stop is B's
  }
  const bStops = await stopsOn(b);
  const bOptedOut = await metric(b.metrics.cdrsSkipped, { reason: 'opted_out' });
  await peer.sendCdr('stop', 'network', now(), 'normal-release', call.bye);
  t.ok(await eventually(async () => (await stopsOn(b)) === bStops + 1), 'the call\'s stop reached instance B');
  t.ok(await eventually(async () => (await metric(b.metrics.cdrsSkipped, { reason: 'opted_out' })) === bOptedOut + 1),
    'instance B dropped it as opted out (not lost some other way)');
  const marker = leg({ toUser: '15550002222', sourceIp: '203.0.113.5' });
  await peer.sendCdr('attempt', 'network', now(), marker.invite);
  await peer.sendCdr('stop', 'application', now(), 'call-rejected', marker.final(486));
  // Rows are written in spool order: had the call's row been spooled before the marker's, it would be in MySQL now.
  await waitRows(stores.pool, marker.callId);
  t.same(await cdrRows(stores.pool, 'sip_callid = ?', [call.callId]), [], 'no row for the call in progress');
  const [hist] = await stores.pool.query<RowDataPacket[]>('SELECT disable_cdrs FROM cdr_opt_out_history WHERE account_sid = ? ORDER BY id', [acct]);
  t.same(hist.map((h) => h.disable_cdrs), [0, 1], 'opt-out recorded for the audit');
  await api(`/v1/accounts/${acct}/cdr-opt-out`, { method: 'PUT', body: '{"disable_cdrs": false}' });
});

t.test('account closure leaves nothing of the account in Redis or any table', async (t) => {
  const erin = Device.via(peer, { user: 'erin', password: 'pw-erin', domain: 'adm.example.com', sourceAddress: '192.0.2.71' });
  t.equal((await erin.register()).status, 200);
  const done = leg({ toUser: '15550001111', sourceIp: '192.0.2.71' });
  await peer.sendCdr('attempt', 'network', now(), done.invite);
  await peer.sendCdr('stop', 'application', now(), 'call-rejected', done.final(486));
  await waitRows(stores.pool, done.callId);
  const live = leg({ toUser: '15550001111', sourceIp: '192.0.2.71' });
  await peer.sendCdr('attempt', 'network', now(), live.invite);
  await peer.sendCdr('start', 'application', now(), 'uas', live.ok);
  await eventually(async () => Object.keys(await redisDump(stores)).some((k) => k.includes('cdr:leg:')));

  const r = await api(`/v1/accounts/${acct}`, { method: 'DELETE' });
  t.equal(r.status, 200);
  const { erased } = await r.json() as { erased: Record<string, number> };
  t.match(erased, { registrations: 1, calls_in_flight: 1, clients: 1, phone_numbers: 1, accounts: 1 });
  t.ok(erased.cdrs! >= 1);

  const dump = JSON.stringify(await redisDump(stores));
  for (const needle of [acct, '192.0.2.71', 'erin', live.callId]) t.notOk(dump.includes(needle), `no "${needle}" left in Redis`);
  const [tables] = await stores.pool.query<RowDataPacket[]>('SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()');
  for (const { t: table } of tables) {
    const [rows] = await stores.pool.query<RowDataPacket[]>(`SELECT * FROM \`${table}\``);
    t.notOk(JSON.stringify(rows).includes(acct), `no trace of the account in ${table}`);
  }
  t.equal((await erin.register()).status, 403, 'its credentials no longer work, on this instance at once');
  t.equal((await api(`/v1/accounts/${acct}/cdrs`)).status, 404, 'the account is gone');
  // A stop for the discarded call produces nothing.
  const without = await metric(a.metrics.cdrsSkipped, { reason: 'stop_without_attempt' });
  await peer.sendCdr('stop', 'network', now(), 'normal-release', live.bye);
  await waitMetric(a.metrics.cdrsSkipped, { reason: 'stop_without_attempt' }, without + 1);
  t.same(await cdrRows(stores.pool, 'sip_callid = ?', [live.callId]), []);
});

t.test('erasures are counted by kind, requests by status, refusals logged without the account', async (t) => {
  const body = await (await fetch(`${a.httpUrl}/metrics`)).text();
  const byStatus = (s: string) => Number(new RegExp(`sip_sidecar_admin_requests_total\\{status="${s}"\\} (\\d+)`).exec(body)?.[1]);
  t.equal(byStatus('401'), 4, 'the four bad tokens');
  t.equal(byStatus('400'), 13, 'the thirteen malformed requests');
  t.equal(byStatus('405'), 1);
  t.equal(byStatus('404'), 3, 'unknown account, unknown path, closed account');
  const refused = a.logs.filter((l) => l.msg === 'admin request refused');
  t.equal(refused.length, 4 + 13 + 1 + 3, 'each refusal logged');
  t.notOk(JSON.stringify(refused).includes(acct), 'by route shape, not account');
  for (const [kind, n] of [['cdrs', 1], ['cdrs_by_number', 1], ['registrations', 1], ['account', 1]] as const) {
    t.match(body, new RegExp(`sip_sidecar_admin_erasures_total\\{kind="${kind}"\\} ${n}\\b`), kind);
  }
});

t.test('no admin API without ADMIN_TOKEN', async (t) => {
  const plain = await freshStores('admin_off');
  const d = await startDaemon(plain, null, { waitConnected: false });
  t.teardown(async () => { await d.close(); await plain.close(); });
  const r = await fetch(`${d.httpUrl}/v1/accounts/${acct}/cdrs`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(r.status, 404);
});
