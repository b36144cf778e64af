// REGISTER traffic through the drachtio peer, then what operators see: /metrics moved by
// exactly that traffic, passes `promtool check metrics`, and neither a label value nor an
// info-level log line holds an address, a number or a SIP user from the traffic.
import t from 'tap';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { Device } from '../helpers/ua.js';
import {
  AUDIT_CHECKS, CDR_EVENT_TYPES, CDR_SKIP_REASONS, DEPENDENCIES, ERASURE_KINDS, REGISTER_RESULTS,
} from '../../lib/metrics.js';
import { familyOf, run, scrape, valueOf, type Scrape } from './prom.js';

const DOMAIN = 'obs.example.com';
// What the traffic carries that must never reach a label or an info log line.
const USERS = { alice: 'alice', number: '15557654321', carol: 'carol', dave: 'dave' };
const IPS = { alice: '198.51.100.31', number: '198.51.100.32', carol: '192.0.2.33', attacker: '203.0.113.66', broken: '192.0.2.77' };
const NUMBERS = ['15557654321', '4930901820'];
const SECRETS = ['pw-alice', 'pw-number', 'pw-carol', 'pw-dave', 'wrong-guess'];
const FORBIDDEN = [...Object.values(USERS), ...Object.values(IPS), ...NUMBERS];

let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let before: { text: string; parsed: Scrape };
let after: { text: string; parsed: Scrape };

t.before(async () => {
  stores = await freshStores('obstraffic');
  peer = await DrachtioPeer.listen();
  daemon = await startDaemon(stores, peer, { env: { AUTH_FAIL_LIMIT: '3' } });
  await provision(stores.pool, { realm: DOMAIN, user: USERS.alice, password: 'pw-alice', numbers: NUMBERS });
  await provision(stores.pool, { realm: DOMAIN, user: USERS.number, password: 'pw-number' });
  await provision(stores.pool, { realm: DOMAIN, user: USERS.carol, password: 'pw-carol' });
  await provision(stores.pool, { realm: DOMAIN, user: USERS.dave, password: 'pw-dave' });
  before = await scrape(daemon.httpUrl);
  await sendTraffic();
  after = await scrape(daemon.httpUrl);
});
t.teardown(async () => {
  await daemon.close();
  await peer.close();
  await stores.close();
});

const device = (user: string, password: string, sourceAddress: string) =>
  Device.via(peer, { user, password, domain: DOMAIN, sourceAddress, sourcePort: 5060 });

/** The expected effect of each step is in its comment; the totals are in EXPECTED. */
async function sendTraffic(): Promise<void> {
  const status = (s: number, want: number, what: string) => { if (s !== want) throw new Error(`${what}: ${s}, expected ${want}`); };
  // Three phones register: 3 × (401 challenged, then 200 ok).
  const alice = device(USERS.alice, 'pw-alice', IPS.alice);
  status((await alice.register()).status, 200, 'alice');
  status((await device(USERS.number, 'pw-number', IPS.number).register()).status, 200, 'number');
  const carol = device(USERS.carol, 'pw-carol', IPS.carol);
  status((await carol.register()).status, 200, 'carol');
  // alice unregisters: 200 removed.
  status((await alice.once({ expires: 0 })).status, 200, 'alice unregisters');
  // carol asks for 30 s: 423 too_brief.
  status((await carol.once({ expires: 30 })).status, 423, 'carol too brief');
  // A guesser: 401 challenged, then 3 × 403 forbidden (the third starts a block), then 403 blocked.
  const guesser = device(USERS.dave, 'pw-dave', IPS.attacker);
  status((await guesser.register({}, { password: 'wrong-guess' })).status, 403, 'guess 1');
  status((await guesser.once({}, { password: 'wrong-guess' })).status, 403, 'guess 2');
  status((await guesser.once({}, { password: 'wrong-guess' })).status, 403, 'guess 3');
  status((await guesser.once()).status, 403, 'blocked, even with the right password');
  // Malformed: 2 × 400 invalid (garbage Expires, a Contact that is not a SIP URI).
  const broken = device(USERS.number, 'pw-number', IPS.broken);
  status((await broken.once({ expires: 'soon' })).status, 400, 'bad Expires');
  status((await broken.once({ contact: `<tel:+${NUMBERS[1]}>` })).status, 400, 'bad Contact');
}

const EXPECTED: Record<string, number> = {
  ok: 3, removed: 1, challenged: 4, stale: 0, replayed: 0, forbidden: 3, blocked: 1, too_brief: 1, invalid: 2, unavailable: 0, error: 0,
};
const TOTAL = Object.values(EXPECTED).reduce((a, b) => a + b, 0);

const delta = (name: string, labels: Record<string, string> = {}) =>
  (valueOf(after.parsed, name, labels) ?? NaN) - (valueOf(before.parsed, name, labels) ?? NaN);

t.test('counters moved by exactly the traffic sent', async (t) => {
  const byResult = Object.fromEntries(REGISTER_RESULTS.map((r) => [r, delta('sip_sidecar_register_requests_total', { result: r })]));
  t.same(byResult, EXPECTED, 'REGISTER responses by result');
  const results = after.parsed.samples.filter((s) => s.name === 'sip_sidecar_register_requests_total').map((s) => s.labels.result).sort();
  t.same(results, [...Object.keys(EXPECTED)].sort(), 'no result outside the closed set');
  t.equal(delta('sip_sidecar_register_duration_seconds_count'), TOTAL, 'one latency observation per response');
  t.equal(delta('sip_sidecar_register_duration_seconds_bucket', { le: '+Inf' }), TOTAL);
  t.equal(delta('sip_sidecar_auth_failures_total'), 3, 'failed authentications');
  t.equal(delta('sip_sidecar_sources_blocked_total'), 1, 'blocked sources');
  t.equal(valueOf(after.parsed, 'sip_sidecar_bindings_active'), 2, 'bindings: 3 registered, 1 removed');
  for (const type of CDR_EVENT_TYPES) t.equal(delta('sip_sidecar_cdr_events_total', { type }), 0, `no CDR event counted (${type})`);
  t.equal(delta('sip_sidecar_cdrs_written_total'), 0);
  for (const d of DEPENDENCIES) t.equal(valueOf(after.parsed, 'sip_sidecar_dependency_up', { dependency: d }), 1, `${d} up`);
});

t.test('every labelled series exists, at 0, from start-up', async (t) => {
  const s = before.parsed;
  for (const r of REGISTER_RESULTS) t.equal(valueOf(s, 'sip_sidecar_register_requests_total', { result: r }), 0, `result=${r}`);
  for (const x of CDR_EVENT_TYPES) t.equal(valueOf(s, 'sip_sidecar_cdr_events_total', { type: x }), 0, `type=${x}`);
  for (const x of CDR_SKIP_REASONS) t.equal(valueOf(s, 'sip_sidecar_cdrs_skipped_total', { reason: x }), 0, `reason=${x}`);
  // The purge runs once at start-up, so `ok` may already read 1; `failed` must not move.
  t.ok([0, 1].includes(valueOf(s, 'sip_sidecar_retention_runs_total', { result: 'ok' }) ?? -1), 'retention result=ok exists');
  t.equal(valueOf(s, 'sip_sidecar_retention_runs_total', { result: 'failed' }), 0, 'retention result=failed');
  for (const x of ERASURE_KINDS) t.equal(valueOf(s, 'sip_sidecar_admin_erasures_total', { kind: x }), 0, `kind=${x}`);
  for (const x of AUDIT_CHECKS) t.equal(valueOf(s, 'sip_sidecar_audit_breaches', { check: x }), 0, `check=${x}`);
  for (const x of DEPENDENCIES) t.ok(valueOf(s, 'sip_sidecar_dependency_up', { dependency: x }) !== undefined, `dependency=${x}`);
  // Generic: a family without a sample at start (a labelled metric nobody initialised)
  // would make rate() miss its first event.
  for (const f of s.families.values()) {
    if (/^sip_sidecar_(process|nodejs)_/.test(f.name)) continue;
    t.ok(s.samples.some((x) => familyOf(x.name, s.families) === f.name), `${f.name} has a series before any traffic`);
  }
});

t.test('metric names follow the Prometheus conventions', async (t) => {
  for (const f of after.parsed.families.values()) {
    t.match(f.name, /^sip_sidecar_[a-z0-9_]+$/, `${f.name}: prefix, snake_case`);
    t.ok(f.help.length > 0, `${f.name} has help`);
    if (f.type === 'counter') t.match(f.name, /_total$/, `${f.name}: a counter ends in _total`);
    else t.notMatch(f.name, /_total$/, `${f.name}: a ${f.type} does not end in _total`);
    if (f.type === 'histogram') t.match(f.name, /_(seconds|bytes)$/, `${f.name}: a histogram names its base unit`);
    t.notMatch(f.name, /_(ms|milliseconds|minutes|hours|days|kb|mb|percent)(_|$)/, `${f.name}: base units only`);
  }
});

t.test('promtool check metrics: no warning, no error', async (t) => {
  const r = await run('promtool', ['check', 'metrics'], { stdin: after.text });
  t.equal(r.code, 0, 'exit 0');
  t.equal(r.stdout + r.stderr, '', 'no output');
});

t.test('no label value holds an address, a number or a SIP user', async (t) => {
  const bad: string[] = [];
  const values = after.parsed.samples.flatMap((s) => Object.entries(s.labels).map(([k, v]) => ({ series: s.name, k, v })));
  t.ok(values.length > 50, `label values to check (${values.length})`);
  for (const { series, k, v } of values) {
    for (const f of FORBIDDEN) if (v.includes(f)) bad.push(`${series}{${k}="${v}"} contains ${f}`);
    if (/\b\d{1,3}(\.\d{1,3}){3}\b/.test(v)) bad.push(`${series}{${k}="${v}"} looks like an IPv4 address`);
    if (/\d{6,}/.test(v)) bad.push(`${series}{${k}="${v}"} looks like a phone number`);
    if (/[@:]/.test(v) && k !== 'le') bad.push(`${series}{${k}="${v}"} looks like a URI`);
  }
  t.same(bad, [], 'none found');
});

t.test('info-level logs of that traffic hold no address, number, SIP user or secret', async (t) => {
  const bad: string[] = [];
  t.equal(daemon.config.log.level, 'info');
  // The traffic was logged (so the check below has something to check) …
  const failed = daemon.logs.filter((l) => l.msg === 'REGISTER authentication failed');
  t.equal(failed.length, 3, 'each failed authentication is logged');
  for (const l of failed) {
    t.match(l.user, /^[0-9a-f]{16}$/, 'the user as a keyed hash');
    t.match(l.source, /^[0-9a-f]{16}$/, 'the source as a keyed hash');
  }
  t.equal(daemon.logs.filter((l) => l.msg === 'REGISTER rejected').length, 2, 'each malformed REGISTER is logged');
  // … and no line carries what the traffic carried.
  t.ok(daemon.rawLogs.length > 0);
  for (const line of daemon.rawLogs) {
    for (const f of [...FORBIDDEN, ...SECRETS]) if (line.includes(f)) bad.push(`log line contains ${f}: ${line}`);
    for (const ip of line.match(/\b\d{1,3}(\.\d{1,3}){3}\b/g) ?? []) {
      if (ip !== '127.0.0.1') bad.push(`log line contains an address other than the local stores': ${line}`);
    }
    if (/sips?:[^"\s]*@/.test(line)) bad.push(`log line contains a SIP URI with a user: ${line}`);
  }
  t.same(bad, [], 'none found');
});
