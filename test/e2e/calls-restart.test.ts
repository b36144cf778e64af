// drachtio-server SIGKILLed while sipp's call rings, then started again: it never reports that call's
// end. The daemon reconnects and serves again, and the orphaned attempt ends in exactly one row through
// the orphan sweep (a short CDR_ORPHAN_TIMEOUT_SECONDS here).
import t from 'tap';
import { createCallState } from '../../lib/calls/correlate.js';
import { eventually } from '../helpers/harness.js';
import { rowsOf, waitRows } from '../calls/helpers.js';
import { callWorld, runCall, scrapeValue, startCall } from './calls.js';
import { drachtioBinary } from './drachtio-server.js';

const found = drachtioBinary();
if ('skip' in found) {
  t.comment(`skipped: ${found.skip}`);
  process.exit(0);
}
const NUMBER = '+15557773001';
const ORPHAN_S = 6;

const w = callWorld(t, found.bin, 'e2e-calls-restart', {
  env: { CDR_ORPHAN_TIMEOUT_SECONDS: String(ORPHAN_S) }, accounts: [{ realm: 'e2e-restart.example', numbers: [NUMBER] }],
});

const ready = async () => (await w.daemons[0]!.get('/readyz').catch(() => ({ status: 0 }))).status;
const connects = () => w.daemons[0]!.app.lines.filter((l) => l.msg === 'connected to drachtio-server').length;

t.test('killed while ringing: the daemon reconnects, the attempt ends in one not-reported row', async (t) => {
  // The caller waits a minute before it would CANCEL: drachtio-server dies while the callee rings.
  const ringing = await startCall(w.drachtio, w.app, 'proxy: canceled after 180', { to: NUMBER, from: 'ringing' },
    { scenario: 'uac-cancel.xml', vars: { ringing: 1, pause_ms: 60_000 } });
  const legs = createCallState(w.stores.redis, w.stores.prefix, 86_400);
  const recorded = await eventually(async () => (await legs.listInFlight(Date.now())).some((l) => l.fromNetwork && l.attemptedAt !== null), 10_000);
  t.ok(recorded, 'the daemon recorded the ringing call\'s attempt');
  // The callee rings as soon as the proxied INVITE reaches it: wait until drachtio-server has reported that
  // INVITE too (the leg's application-side attempt), so the kill lands while the call rings, not before.
  t.ok(await eventually(async () => {
    for (const k of await w.stores.redis.keys(`${w.stores.prefix}cdr:leg:*`)) if ((await w.stores.redis.hget(k, 'a:application')) === '1') return true;
    return false;
  }, 10_000, 25, 'the forwarded INVITE reported (attempt/application)'), 'the INVITE reached the callee');
  // and for the callee's 180 to reach the caller through drachtio-server (sipp writes it to its trace as it goes)
  await eventually(async () => /SIP\/2\.0 180 /.test(await ringing.uac.messagesSoFar()), 10_000, 25, 'the caller\'s sipp to receive 180');
  const connectsBefore = connects();

  await w.drachtio.kill();
  t.equal(await eventually(async () => (await ready()) === 503, 10_000), true, 'not ready while drachtio-server is gone');
  const caller = await ringing.uac.stop(1000);
  for (const c of ringing.callees) await c.stop(1000);
  const callId = /^Call-ID: *(\S+)/im.exec(caller.messages)?.[1] ?? '';
  t.match(caller.messages, /SIP\/2\.0 180 /, 'the caller heard ringing before the kill');
  t.same(await rowsOf(w.stores.pool, callId), [], 'no row yet: nothing ended the call');

  await w.drachtio.restart();
  t.equal(await eventually(async () => (await ready()) === 200, 15_000), true, 'ready again');
  t.equal(await eventually(() => connects() > connectsBefore, 5000), true, 'it logged the new connection');
  await w.app.connected();

  const [row] = await waitRows(w.stores.pool, callId, 1, (ORPHAN_S + 15) * 1000);
  t.match(row, {
    direction: 'inbound', answered: 0, answered_at: null, sip_status: null, duration: 0, termination_reason: 'not-reported', to_user: NUMBER,
  }, 'finalised after CDR_ORPHAN_TIMEOUT_SECONDS as an unanswered row');
  t.equal(await scrapeValue(w.daemons[0]!.get, 'cdr_orphans_total', { kind: 'unanswered' }), 1, 'counted');

  // Serving again through the restarted server: routes, events and rows.
  const after = await runCall(w.drachtio, w.app, 'proxy: answered, the caller hangs up', { to: NUMBER, from: 'after' });
  t.equal(after.failure, null, 'a call through the restarted server');
  t.match(await waitRows(w.stores.pool, after.callId), [{ answered: 1, sip_status: 200, termination_reason: 'normal-release' }]);
  t.equal((await rowsOf(w.stores.pool, callId)).length, 1, 'still exactly one row for the orphaned call');
});
