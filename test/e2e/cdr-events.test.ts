// What drachtio-server v0.9.10 really sends for each call shape, recorded by a drachtio-srf client of
// its own (no daemon here: it would take a share of the round-robin) while sipp calls through the test
// call app. Fails if the real server sends anything other than test/peer's CALL_SHAPES, the model
// every peer-driven test of calls plays, and the README's table of "What drachtio-server sends".
import t from 'tap';
import { CALL_SHAPES, type CallShape } from '../peer/cdr-calls.js';
import { eventually } from '../helpers/harness.js';
import { startCallApp, type CallApp } from './call-app.js';
import { runCall } from './calls.js';
import { startCdrRecorder, type CdrRecorder } from './cdr-recorder.js';
import { drachtioBinary, startDrachtio, type DrachtioServer } from './drachtio-server.js';

const found = drachtioBinary();
if ('skip' in found) {
  t.comment(`skipped: ${found.skip}`);
  process.exit(0);
}

let drachtio: DrachtioServer;
let recorder: CdrRecorder;
let app: CallApp;

t.before(async () => {
  drachtio = await startDrachtio(found.bin);
  recorder = await startCdrRecorder(drachtio);
  app = await startCallApp(drachtio, { mode: 'proxy' });
});
t.teardown(async () => {
  app?.stop();
  recorder?.stop();
  await drachtio?.stop();
});

t.test('each call shape: the events, sources, roles, reasons and messages drachtio-server sends', async (t) => {
  let expected = 0;
  for (const shape of Object.keys(CALL_SHAPES) as CallShape[]) {
    const from = recorder.events.length;
    const run = await runCall(drachtio, app, shape, { to: '+15557770009', from: 'rec' });
    t.equal(run.failure, null, `${shape}: sipp and the app played the call`);
    const want = CALL_SHAPES[shape];
    expected += want.length;
    await eventually(() => recorder.events.length >= from + want.length, 5000);
    t.same(recorder.shapeSince(from), want, shape);
    t.equal(recorder.events[from]?.callId, run.callId, `${shape}: leg A is the caller's Call-ID`);
    if (run.bLegCallId) t.ok(recorder.events.slice(from).some((e) => e.callId === run.bLegCallId), `${shape}: leg B is the callee's`);
  }
  t.equal(recorder.events.length, expected, 'nothing else, nothing late');
});
