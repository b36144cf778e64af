// CDR traffic through the drachtio peer (cdr:attempt / cdr:start / cdr:stop, as drachtio-server
// sends them for answered inbound legs), then what operators see: /metrics moved by exactly
// that traffic and passes `promtool check metrics`; no label value and no info-level log line
// holds a phone number, a SIP user, an address or a Call-ID from it.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { DrachtioPeer, timeOfDay } from '../peer/drachtio-peer.js';
import { joinSipMessage, rewriteTopVia, splitSipMessage } from '../peer/sip.js';
import { buildBye, buildInvite, buildResponse } from '../peer/sip-ua.js';
import { eventually, freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { CDR_EVENT_TYPES, CDR_SKIP_REASONS } from '../../lib/metrics.js';
import { run, scrape, valueOf, type Scrape } from './prom.js';

const OWNED = '15551230100';         // a number of a recording account
const OPTED_OUT = '15551230200';     // a number of an account with disable_cdrs
const UNKNOWN = '15559990000';       // nobody's number
const CALLER = '14155550123';        // the caller's number (From user)
const CALLER_IP = '198.51.100.44';   // where the INVITE came from (Via received=, SDP c=)
const FORBIDDEN = [OWNED, OPTED_OUT, UNKNOWN, CALLER, CALLER_IP];

let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let before: Scrape;
let after: { text: string; parsed: Scrape };
const callIds: string[] = [];

t.before(async () => {
  stores = await freshStores('obscdr');
  peer = await DrachtioPeer.listen();
  daemon = await startDaemon(stores, peer, { env: { CDR_FLUSH_MS: '100' } });
  await peer.waitForRoutes(['cdr:attempt', 'cdr:start', 'cdr:stop'], { timeoutMs: 10_000 });
  await provision(stores.pool, { realm: 'cdr.example.com', numbers: [OWNED] });
  await provision(stores.pool, { realm: 'optout.example.com', numbers: [OPTED_OUT], disableCdrs: true });
  before = (await scrape(daemon.httpUrl)).parsed;

  // Two answered calls to the recording account, one to the opted-out account, one to nobody.
  for (const to of [OWNED, OWNED, OPTED_OUT, UNKNOWN]) await answeredInboundLeg(to);
  const done = await eventually(async () => {
    const s = (await scrape(daemon.httpUrl)).parsed;
    const skipped = CDR_SKIP_REASONS.reduce((n, reason) => n + (valueOf(s, 'sip_sidecar_cdrs_skipped_total', { reason }) ?? 0), 0);
    return (valueOf(s, 'sip_sidecar_cdrs_written_total') ?? 0) >= 2 && skipped >= 2;
  }, 10_000, 100);
  if (!done) throw new Error('the CDR traffic was not processed in time');
  after = await scrape(daemon.httpUrl);
});
t.teardown(async () => {
  await daemon.close();
  await peer.close();
  await stores.close();
});

async function answeredInboundLeg(toUser: string): Promise<void> {
  const callId = `${randomBytes(6).toString('hex')}@${CALLER_IP}`;
  callIds.push(callId);
  const built = buildInvite({ fromUser: CALLER, fromHost: 'carrier.example.net', toUser, toHost: 'sbc.example.org', callId, contactHost: CALLER_IP });
  const invite = joinSipMessage(rewriteTopVia(splitSipMessage(built), CALLER_IP, 5062), false);
  const ok = buildResponse(invite, 200);
  const at = Date.now();
  await peer.sendCdr('attempt', 'network', timeOfDay(new Date(at - 60_000)), invite);
  await peer.sendCdr('start', 'application', timeOfDay(new Date(at - 55_000)), 'uas', ok);
  await peer.sendCdr('stop', 'network', timeOfDay(new Date(at - 1000)), 'normal-release', buildBye({ invite, response: ok }));
}

const delta = (name: string, labels: Record<string, string> = {}) =>
  (valueOf(after.parsed, name, labels) ?? NaN) - (valueOf(before, name, labels) ?? NaN);

t.test('CDR counters moved by exactly the traffic sent', async (t) => {
  t.same(Object.fromEntries(CDR_EVENT_TYPES.map((type) => [type, delta('sip_sidecar_cdr_events_total', { type })])),
    { attempt: 4, start: 4, stop: 4 }, 'events by type');
  t.equal(delta('sip_sidecar_cdrs_written_total'), 2, 'rows written');
  const expectedSkips = Object.fromEntries(CDR_SKIP_REASONS.map((r) => [r, 0]));
  expectedSkips.opted_out = 1;
  expectedSkips.unknown_account = 1;
  t.same(Object.fromEntries(CDR_SKIP_REASONS.map((reason) => [reason, delta('sip_sidecar_cdrs_skipped_total', { reason })])),
    expectedSkips, 'skipped by reason');
  const [rows] = await stores.pool.query('SELECT COUNT(*) AS n FROM cdrs');
  t.equal(Number((rows as { n: number }[])[0]!.n), 2, 'the rows are in MySQL');
  const batches = delta('sip_sidecar_cdr_batch_write_duration_seconds_count');
  t.ok(batches >= 1 && batches <= 2, `1 or 2 batches timed (${batches})`);
  t.equal(valueOf(after.parsed, 'sip_sidecar_calls_in_flight'), 0, 'no leg left in flight');
  t.equal(valueOf(after.parsed, 'sip_sidecar_cdr_spool_depth'), 0, 'spool drained');
  t.equal(delta('sip_sidecar_register_requests_total', { result: 'ok' }), 0, 'no REGISTER counted');
});

t.test('promtool check metrics: no warning, no error', async (t) => {
  const r = await run('promtool', ['check', 'metrics'], { stdin: after.text });
  t.equal(r.code, 0, 'exit 0');
  t.equal(r.stdout + r.stderr, '', 'no output');
});

t.test('no label value holds a number, an address or a Call-ID', async (t) => {
  const bad: string[] = [];
  for (const s of after.parsed.samples) {
    for (const [k, v] of Object.entries(s.labels)) {
      for (const f of [...FORBIDDEN, ...callIds]) if (v.includes(f)) bad.push(`${s.name}{${k}="${v}"} contains ${f}`);
      if (/\d{6,}/.test(v)) bad.push(`${s.name}{${k}="${v}"} looks like a phone number`);
    }
  }
  t.same(bad, [], 'none found');
});

t.test('info-level logs of that traffic hold no number, SIP user, address or Call-ID', async (t) => {
  const bad: string[] = [];
  t.equal(daemon.config.log.level, 'info');
  t.ok(daemon.logs.some((l) => l.msg === 'no account for call leg; no CDR'), 'the unknown account was logged');
  for (const line of daemon.rawLogs) {
    for (const f of [...FORBIDDEN, ...callIds]) if (line.includes(f)) bad.push(`log line contains ${f}: ${line}`);
    for (const ip of line.match(/\b\d{1,3}(\.\d{1,3}){3}\b/g) ?? []) {
      if (ip !== '127.0.0.1') bad.push(`log line contains an address other than the local stores': ${line}`);
    }
  }
  t.same(bad, [], 'none found');
});
