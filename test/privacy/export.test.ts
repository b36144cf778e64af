// Portability through the real HTTP server: every column as NDJSON and as CSV (RFC 4180, cells a
// spreadsheet would run as formulas neutralised), and a large export streamed in flat memory.
import t from 'tap';
import { freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { cdrRows } from '../calls/helpers.js';
import { csvField, EXPORT_COLUMNS } from '../../lib/privacy/export.js';
import { insertCdrRow, parseCsv, type CdrOptions } from './helpers.js';

const TOKEN = 'admin-token-0123456789abcdef';
let stores: Stores;
let a: Daemon;
let acct: string;
let other: string;

t.before(async () => {
  stores = await freshStores('admin_export');
  a = await startDaemon(stores, null, { env: { ADMIN_TOKEN: TOKEN }, waitConnected: false });
  acct = await provision(stores.pool, { realm: 'adm.example.com' });
  other = await provision(stores.pool, { realm: 'other.example.com' });
});
t.teardown(async () => {
  await a.close();
  await stores.close();
});

const api = (path: string) => fetch(`${a.httpUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
const insertCdr = (accountSid: string, o: CdrOptions = {}) => insertCdrRow(stores.pool, accountSid, o);
const FORMULA = /^[=+\-@\t\r]/;

t.test('export round-trips every column, as NDJSON and as CSV', async (t) => {
  await insertCdr(acct, { ua: 'Phone "X", v1\r\nline' });
  await insertCdr(acct, { from: '+15557770001' });
  await insertCdr(other);
  const expected = (await cdrRows(stores.pool, 'account_sid = ?', [acct])).map((r) =>
    Object.fromEntries(EXPORT_COLUMNS.map((c) => [c, r[c] instanceof Date ? (r[c] as Date).toISOString() : c === 'answered' ? r[c] === 1 : r[c]])));
  t.equal(expected.length, 2);

  const nd = await api(`/v1/accounts/${acct}/cdrs`);
  t.equal(nd.status, 200);
  t.equal(nd.headers.get('content-type'), 'application/x-ndjson');
  const lines = (await nd.text()).trim().split('\n').map((l) => JSON.parse(l));
  t.same(lines, expected, 'NDJSON: every column, only this account');

  const csv = await api(`/v1/accounts/${acct}/cdrs?format=csv`);
  t.equal(csv.status, 200);
  const parsed = parseCsv(await csv.text());
  t.same(parsed[0], [...EXPORT_COLUMNS], 'header row');
  const asText = (v: unknown) => (v === null ? '' : String(v));
  // Text cells a spreadsheet would run as a formula ("+1555…") come back behind an apostrophe.
  const asCell = (v: unknown) => (typeof v === 'string' && FORMULA.test(v) ? `'${v}` : asText(v));
  t.same(parsed.slice(1), expected.map((r) => EXPORT_COLUMNS.map((c) => asCell(r[c]))), 'CSV: every column, quoting intact');

  const none = await api(`/v1/accounts/${acct}/cdrs?since=2026-01-01&until=2026-01-02`);
  t.equal(await none.text(), '', 'empty range: empty NDJSON');
});

t.test('a large export streams: memory stays flat while 120,000 rows go out', async (t) => {
  const bulk = await provision(stores.pool, { realm: 'bulk.example.com' });
  const base = Date.now() - 2 * 86_400_000;
  for (let i = 0; i < 120; i++) {
    const values = Array.from({ length: 1000 }, (_, j) => {
      const at = new Date(base + (i * 1000 + j) * 100);
      return [bulk, `bulk-${i}-${j}`, 'outbound', '15550009999', `1555${String(i * 1000 + j).padStart(7, '0')}`, '198.51.100.9', at, at, at, 0, 0, 486, 'call-rejected', null, 'Bulk/1.0'];
    });
    await stores.pool.query(`INSERT INTO cdrs (account_sid, sip_callid, direction, from_user, to_user, remote_host, attempted_at, answered_at,
      terminated_at, duration, answered, sip_status, termination_reason, role, user_agent) VALUES ?`, [values]);
  }
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().heapUsed); }, 5);
  const res = await api(`/v1/accounts/${bulk}/cdrs`);
  let bytes = 0;
  let newlines = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    for (const b of chunk) if (b === 10) newlines++;
  }
  clearInterval(sampler);
  t.equal(newlines, 120_000, 'every row exported');
  t.ok(bytes > 30_000_000, `${(bytes / 1e6).toFixed(1)} MB sent`);
  const grew = (peak - before) / 1e6;
  // Buffered whole, the 120,000 row objects plus the text would take several times the output; streamed, only
  // garbage not yet collected grows the heap (half the output was seen on a loaded 2-core machine).
  t.ok(grew < bytes / 1e6, `heap grew ${grew.toFixed(1)} MB for ${(bytes / 1e6).toFixed(1)} MB of output: not buffered whole`);
  await stores.pool.query('DELETE FROM cdrs WHERE account_sid = ?', [bulk]);
});

t.test('CSV: a cell starting with = + - @ tab or CR is neutralised; NDJSON keeps the value as it is', async (t) => {
  const risky = ['=HYPERLINK("http://x","y")', '+15551230000', '-2+3', '@SUM(A1)', '\tx', '\rx'];
  const sid = await provision(stores.pool, { realm: 'formula.example.com' });
  for (const ua of risky) await insertCdr(sid, { ua, from: '+15550009999' });
  const rows = parseCsv(await (await api(`/v1/accounts/${sid}/cdrs?format=csv`)).text());
  const col = (name: string) => rows.slice(1).map((r) => r[EXPORT_COLUMNS.indexOf(name as (typeof EXPORT_COLUMNS)[number])]);
  t.same(col('user_agent').sort(), risky.map((v) => `'${v}`).sort(), 'every risky User-Agent behind an apostrophe');
  t.same(new Set(col('from_user')), new Set(["'+15550009999"]), 'a number with a leading + is text');
  t.same(new Set(col('duration')), new Set(['60']), 'numbers stay numbers');
  const nd = (await (await api(`/v1/accounts/${sid}/cdrs`)).text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(nd.map((r) => r.user_agent).sort(), [...risky].sort(), 'NDJSON unchanged');
  t.equal(csvField('a=b'), 'a=b', 'only a leading character counts');
  t.equal(csvField('=a,b'), '"\'=a,b"', 'neutralised, then quoted');
  t.equal(csvField(-5), '-5', 'a number is not text');
});
