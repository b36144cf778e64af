// Calls through a real drachtio-server v0.9.10 into the built daemon: sipp as caller and callee, the test
// call app proxying or bridging, the daemon routing cdr:* on the same server; rows in the real MariaDB.
import t, { type Test } from 'tap';
import { legId } from '../../lib/calls/correlate.js';
import type { CallShape } from '../peer/cdr-calls.js';
import { holdsSdp, mysqlDump, redisDump, rowsOf, waitRows } from '../calls/helpers.js';
import { callWorld, runCall, scrapeValue, type CallRun } from './calls.js';
import { drachtioBinary } from './drachtio-server.js';

const found = drachtioBinary();
if ('skip' in found) {
  t.comment(`skipped: ${found.skip}`);
  process.exit(0);
}
const NUMBER = '+15557771001';
const QUIET = '+15557771002';
const ORPHAN_S = 3;

const w = callWorld(t, found.bin, 'e2e-calls', {
  env: { CDR_ORPHAN_TIMEOUT_SECONDS: String(ORPHAN_S) },
  accounts: [{ realm: 'e2e-calls.example', numbers: [NUMBER] }, { realm: 'e2e-quiet.example', numbers: [QUIET], disableCdrs: true }],
});
const runs: CallRun[] = [];

async function call(t: Test, shape: CallShape, to = NUMBER): Promise<CallRun> {
  const run = await runCall(w.drachtio, w.app, shape, { to, from: `e2e${runs.length}` });
  runs.push(run);
  t.equal(run.failure, null, `${shape}: sipp and the app played the call`);
  return run;
}

const inbound = { direction: 'inbound', to_user: NUMBER, remote_host: '127.0.0.1' };
const seconds = (r: Record<string, unknown>) => ((r.terminated_at as Date).getTime() - (r.answered_at as Date).getTime()) / 1000;

t.test('proxied calls: one row each, saying what happened', async (t) => {
  const expected: [CallShape, Record<string, unknown>][] = [
    ['proxy: answered, the caller hangs up', { answered: 1, sip_status: 200, termination_reason: 'normal-release', role: 'proxy', user_agent: 'sipp-uac/3.6' }],
    ['proxy: 486 from the target', { answered: 0, sip_status: 486, termination_reason: 'call-rejected', role: null, answered_at: null, duration: 0 }],
    ['proxy: canceled after 100', { answered: 0, sip_status: 487, termination_reason: 'call-canceled', role: null, duration: 0 }],
    ['proxy: canceled after 180', { answered: 0, sip_status: 487, termination_reason: 'call-canceled', role: null, duration: 0 }],
    ['proxy: 486 from the first target, the second answers', { answered: 1, sip_status: 200, termination_reason: 'normal-release', role: 'proxy' }],
  ];
  for (const [shape, columns] of expected) {
    const run = await call(t, shape);
    const rows = await waitRows(w.stores.pool, run.callId);
    t.equal(rows.length, 1, `${shape}: one row`);
    const [row] = rows;
    t.match(row, { ...inbound, account_sid: w.accounts[0], from_user: `e2e${runs.length - 1}`, ...columns }, shape);
    if (columns.answered === 1) {
      // sipp waits 1.2 s between its ACK and its BYE; drachtio stamps the 200 and the BYE as they pass, so the
      // row may be a few ms short of it (seen: 1.199 s), never a whole second off.
      t.ok(seconds(row!) >= 1.15 && seconds(row!) < 2.2, `${shape}: answered for the caller's ~1.2 s (${seconds(row!)} s)`);
      t.equal(row!.duration, Math.floor(seconds(row!)), `${shape}: duration in whole seconds`);
    }
  }
});

t.test('a B2BUA call: two legs, two rows; canceled before a 180, the inbound leg ends through the orphan sweep', async (t) => {
  const answered = await call(t, 'b2bua: answered, the caller hangs up');
  t.not(answered.bLegCallId, answered.callId, 'two Call-IDs');
  const [a] = await waitRows(w.stores.pool, answered.callId);
  const [b] = await waitRows(w.stores.pool, answered.bLegCallId!);
  t.match(a, { ...inbound, account_sid: w.accounts[0], role: 'uas', answered: 1, sip_status: 200, termination_reason: 'normal-release' });
  t.match(b, { account_sid: w.accounts[0], direction: 'outbound', role: 'uac', answered: 1, sip_status: 200, termination_reason: 'normal-release', remote_host: '127.0.0.1' });
  t.ok(seconds(a!) >= 1.2 && seconds(b!) >= 1.2, 'both legs answered for the call\'s length');

  for (const [shape, status, reason] of [['b2bua: 486 from the callee', 486, 'call-rejected'], ['b2bua: canceled after 180', 487, 'call-canceled']] as const) {
    const run = await call(t, shape);
    t.match(await waitRows(w.stores.pool, run.callId), [{ direction: 'inbound', answered: 0, sip_status: status, termination_reason: reason }], `${shape}: A`);
    t.match(await waitRows(w.stores.pool, run.bLegCallId!), [{ direction: 'outbound', answered: 0, sip_status: status, termination_reason: reason }], `${shape}: B`);
  }

  const orphansBefore = await scrapeValue(w.daemons[0]!.get, 'cdr_orphans_total', { kind: 'unanswered' });
  const early = await call(t, 'b2bua: canceled after 100');
  t.match(await waitRows(w.stores.pool, early.bLegCallId!), [{ direction: 'outbound', sip_status: 487, termination_reason: 'call-canceled' }], 'B ended by its stop');
  t.same(await rowsOf(w.stores.pool, early.callId), [], 'A: drachtio sent no stop');
  const [orphan] = await waitRows(w.stores.pool, early.callId, 1, (ORPHAN_S + 10) * 1000);
  t.match(orphan, { ...inbound, account_sid: w.accounts[0], answered: 0, answered_at: null, sip_status: null, termination_reason: 'not-reported', duration: 0 },
    `A: finalised after CDR_ORPHAN_TIMEOUT_SECONDS=${ORPHAN_S}`);
  t.equal(await scrapeValue(w.daemons[0]!.get, 'cdr_orphans_total', { kind: 'unanswered' }), orphansBefore + 1, 'counted in /metrics');
});

t.test('an opted-out account: no row for a proxied or a bridged call, no state left', async (t) => {
  const skipped = () => scrapeValue(w.daemons[0]!.get, 'cdrs_skipped_total', { reason: 'opted_out' });
  const before = await skipped();
  const proxied = await call(t, 'proxy: answered, the caller hangs up', QUIET);
  const bridged = await call(t, 'b2bua: answered, the caller hangs up', QUIET);
  const legs = [proxied.callId, bridged.callId, bridged.bLegCallId!];
  const until = Date.now() + 10_000;
  while ((await skipped()) < before + 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  t.equal(await skipped(), before + 3, 'three legs judged opted out when they ended');
  for (const id of legs) t.same(await rowsOf(w.stores.pool, id), [], 'no row');
  const keys = Object.keys(await redisDump(w.stores));
  t.same(keys.filter((k) => legs.some((id) => k.endsWith(legId(id)))), [], 'no leg state, no tombstone');
});

t.test('no SDP anywhere, though every INVITE and 200 carried one; one row per leg after everything', async (t) => {
  t.ok(runs.some((r) => holdsSdp(r.caller.messages)), 'sipp sent and received SDP');
  const stored = [...Object.entries(await redisDump(w.stores)).flat(), ...(await mysqlDump(w.stores.pool))];
  t.ok(stored.length > 10, 'there is something to search');
  t.same(stored.filter(holdsSdp), [], 'no SDP in Redis or MySQL');
  for (const r of runs) {
    for (const id of [r.callId, r.bLegCallId]) if (id) t.ok((await rowsOf(w.stores.pool, id)).length <= 1, `at most one row for ${id}`);
  }
});
