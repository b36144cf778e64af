// Legal holds through the real admin API: placing (validated, idempotent), listing, the history,
// disclosure by hold (read and hold scopes, what the hold covers from both tables, recorded with
// its row count), erasure and closure keeping held rows and saying so, lifting.
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { randomUUID } from 'node:crypto';
import { freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { callIds, insertCdr, sorted } from '../helpers/cdr-rows.js';
import { request } from '../helpers/http-client.js';

const DAY = 86_400_000;
const TOKENS = { ops: 'ops-token-0123456789abcdef', reader: 'reader-token-0123456789ab', holder: 'holder-token-0123456789ab', legal: 'legal-token-0123456789abcd' };
const N = '+15553330002';

let stores: Stores;
let d: Daemon;
let acct = '';
let other = '';
t.before(async () => {
  stores = await freshStores('admin_holds');
  d = await startDaemon(stores, null, {
    waitConnected: false,
    env: { ADMIN_TOKENS: `ops:read+erase+hold+optout:${TOKENS.ops},reader:read:${TOKENS.reader},holder:hold:${TOKENS.holder},legal:read+hold:${TOKENS.legal}` },
  });
  acct = await provision(stores.pool, { realm: 'held.example.com', numbers: ['15550004444'] });
  other = await provision(stores.pool, { realm: 'other-held.example.com' });
});
t.teardown(async () => {
  await d.close();
  await stores.close();
});

const api = (path: string, o: { token?: keyof typeof TOKENS; method?: string; body?: unknown } = {}) =>
  request(`${d.httpUrl}${path}`, { method: o.method, token: TOKENS[o.token ?? 'ops'], body: o.body === undefined ? undefined : JSON.stringify(o.body) });
const put = (sid: string, body: unknown, token: keyof typeof TOKENS = 'holder') => api(`/v1/accounts/${sid}/legal-hold`, { method: 'PUT', body, token });
const ndjson = (text: string) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

let wholeHold = '';
let narrowHold = '';

t.test('placing a hold: validated, 201 then 200 for the same, listed, with its history', async (t) => {
  const future = new Date(Date.now() + 30 * DAY).toISOString();
  for (const body of [{}, { reference: '' }, { reference: 'x'.repeat(201) }, { reference: 'c', number: "1' OR 1=1" }, { reference: 'c', until: '2001-01-01' },
    { reference: 'c', until: 'soon' }, { reference: 'c', extra: 1 }, 'not json', [1]]) {
    const r = await put(acct, body);
    t.equal(r.status, 400, JSON.stringify(body));
    t.equal(r.json().error.code, 'bad_request');
  }
  t.equal((await put(randomUUID(), { reference: 'c' })).status, 404, 'unknown account');
  t.equal((await put('not-a-uuid', { reference: 'c' })).status, 400);

  const r = await put(acct, { reference: 'case 2031-4' });
  t.equal(r.status, 201);
  const hold = r.json().hold;
  t.match(hold, { account_sid: acct, reference: 'case 2031-4', number: null, until: null, active: true, created_by: 'holder', lifted_at: null });
  wholeHold = hold.hold_id;
  const again = await put(acct, { reference: 'case 2031-4' });
  t.same([again.status, again.json().hold.hold_id], [200, wholeHold], 'the same reference again: the same hold');
  const narrow = await put(acct, { reference: 'order 7', number: N, until: future });
  t.equal(narrow.status, 201);
  t.match(narrow.json().hold, { number: '15553330002', until: future });
  narrowHold = narrow.json().hold.hold_id;

  const list = await api(`/v1/accounts/${acct}/legal-hold`, { token: 'holder' });
  t.same(list.json().holds.map((h: { hold_id: string }) => h.hold_id), [wholeHold, narrowHold]);
  const one = await api(`/v1/legal-holds/${narrowHold}`, { token: 'holder' });
  t.match(one.json(), { hold: { hold_id: narrowHold }, events: [{ event: 'placed', actor: 'holder', reference: 'order 7', rows: null }] });
  t.equal((await api(`/v1/legal-holds/${randomUUID()}`, { token: 'holder' })).status, 404);
});

const rows: Record<string, { callId: string }> = {};
t.test('disclosure: export by hold needs read and hold, streams what it covers from both tables, and is recorded', async (t) => {
  rows.heldOld = await insertCdr(stores.pool, acct, { at: Date.now() - 40 * DAY, from: N, table: 'cdrs_held' });
  rows.recentN = await insertCdr(stores.pool, acct, { at: Date.now() - DAY, to: '15553330002' });
  rows.recentOther = await insertCdr(stores.pool, acct, { at: Date.now() - DAY + 1000, from: '15559990000' });
  rows.otherAcct = await insertCdr(stores.pool, other, { at: Date.now() - DAY, from: N });

  const path = `/v1/accounts/${acct}/cdrs?hold=${narrowHold}`;
  const asReader = await api(path, { token: 'reader' });
  t.same([asReader.status, asReader.json().error.scope], [403, 'hold'], 'read alone is not enough');
  t.match(asReader.json().error.message, /lacks the scope "hold"/);
  const asHolder = await api(path, { token: 'holder' });
  t.same([asHolder.status, asHolder.json().error.scope], [403, 'read'], 'hold alone is not enough');

  const narrow = await api(path, { token: 'legal' });
  t.equal(narrow.status, 200);
  t.equal(narrow.headers['content-type'], 'application/x-ndjson');
  t.same(ndjson(narrow.text).map((r) => r.sip_callid), [rows.heldOld!.callId, rows.recentN!.callId], "N's calls only, the held one past retention first");
  const whole = await api(`/v1/accounts/${acct}/cdrs?hold=${wholeHold}&format=csv`, { token: 'legal' });
  t.equal(whole.status, 200);
  t.equal(whole.text.trim().split('\r\n').length, 1 + 3, 'CSV: header and the three rows of the account');
  t.notMatch(whole.text, rows.otherAcct!.callId);

  const [events] = await stores.pool.query<RowDataPacket[]>(
    "SELECT hold_id, actor, row_count, detail FROM legal_hold_events WHERE event = 'disclosed' ORDER BY id");
  t.same(events.map((e) => [e.hold_id, e.actor, e.row_count]), [[narrowHold, 'legal', 2], [wholeHold, 'legal', 3]], 'each disclosure with its row count');
  t.match(events[1]!.detail, { format: 'csv', complete: true });

  t.equal((await api(`/v1/accounts/${other}/cdrs?hold=${narrowHold}`, { token: 'legal' })).status, 404, "another account's hold");
  t.equal((await api(`/v1/accounts/${acct}/cdrs?hold=${randomUUID()}`, { token: 'legal' })).status, 404);
  t.equal((await api(`/v1/accounts/${acct}/cdrs?hold=nope`, { token: 'legal' })).status, 400);
  t.equal((await api(`/v1/accounts/${acct}/cdrs?hold=${narrowHold}&limit=1`, { token: 'legal' })).status, 400);
});

t.test('erasure and closure keep held rows and say so', async (t) => {
  const erased = await api(`/v1/accounts/${acct}/cdrs?number=${encodeURIComponent(N)}`, { method: 'DELETE' });
  t.same(erased.json(), { erased: { cdrs: 0, spooled: 0, held: 2 } });
  const closed = await api(`/v1/accounts/${acct}`, { method: 'DELETE' });
  t.equal(closed.status, 200);
  t.match(closed.json().erased, { cdrs: 0, held: 3, accounts: 1 });
  t.same([...await callIds(stores.pool, 'cdrs', 'account_sid = ?', [acct]), ...await callIds(stores.pool, 'cdrs_held', 'account_sid = ?', [acct])].sort(),
    sorted([rows.heldOld!, rows.recentN!, rows.recentOther!]), 'every held row is still there');
  t.equal((await api(`/v1/accounts/${acct}/cdrs`)).status, 404, 'the account is gone for everything else');
  const list = await api(`/v1/accounts/${acct}/legal-hold`, { token: 'holder' });
  t.equal(list.json().holds.length, 2, 'its holds are still listed');
  const disclosed = await api(`/v1/accounts/${acct}/cdrs?hold=${wholeHold}`, { token: 'legal' });
  t.equal(ndjson(disclosed.text).length, 3, 'and disclosure under them still works');
});

t.test('lifting: no more disclosure under it; the last hold of a closed account lifted, its rows go', async (t) => {
  const lift = await api(`/v1/legal-holds/${narrowHold}`, { method: 'DELETE', token: 'holder' });
  t.equal(lift.status, 200);
  t.match(lift.json(), { hold: { hold_id: narrowHold, active: false, lifted_by: 'holder', number: null }, erased: { cdrs: 0, held: 3 } },
    'the whole-account hold still keeps every row');
  const after = await api(`/v1/accounts/${acct}/cdrs?hold=${narrowHold}`, { token: 'legal' });
  t.same([after.status, after.json().error.code], [409, 'hold_not_active']);

  const last = await api(`/v1/legal-holds/${wholeHold}`, { method: 'DELETE', token: 'holder' });
  t.match(last.json(), { hold: { active: false }, erased: { cdrs: 3, held: 0 } }, 'what the closure asked for happens now');
  t.same(await callIds(stores.pool, 'cdrs', 'account_sid = ?', [acct]), []);
  t.same(await callIds(stores.pool, 'cdrs_held', 'account_sid = ?', [acct]), []);
  const history = await api(`/v1/legal-holds/${wholeHold}`, { token: 'holder' });
  t.same(history.json().events.map((e: { event: string }) => e.event), ['placed', 'disclosed', 'disclosed', 'lifted'], 'the history stays');
  t.equal((await api(`/v1/legal-holds/${wholeHold}`, { method: 'DELETE', token: 'reader' })).json().error.scope, 'hold');
});
