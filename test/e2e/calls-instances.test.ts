// Two daemons on one real drachtio-server: it deals each CDR event to one of them, round-robin, so the
// events of one call land on both; each leg still gets exactly one row, the orphan sweeps of both
// daemons included.
import t from 'tap';
import { CALL_SHAPES, type CallShape } from '../peer/cdr-calls.js';
import { eventually } from '../helpers/harness.js';
import { rowsOf, waitRows } from '../calls/helpers.js';
import { callWorld, runCall, scrapeValue } from './calls.js';
import type { E2eDaemon } from './daemon.js';
import { drachtioBinary } from './drachtio-server.js';

const found = drachtioBinary();
if ('skip' in found) {
  t.comment(`skipped: ${found.skip}`);
  process.exit(0);
}
const NUMBER = '+15557772001';

const w = callWorld(t, found.bin, 'e2e-calls-instances', {
  daemons: 2, env: { CDR_ORPHAN_TIMEOUT_SECONDS: '3' }, accounts: [{ realm: 'e2e-instances.example', numbers: [NUMBER] }],
});

const eventsOf = async (d: E2eDaemon) =>
  (await Promise.all(['attempt', 'start', 'stop'].map((type) => scrapeValue(d.get, 'cdr_events_total', { type })))).reduce((a, b) => a + b, 0);

t.test('every shape through two daemons: exactly one row per leg', async (t) => {
  const shapes = Object.keys(CALL_SHAPES) as CallShape[];
  const legs: string[] = [];
  for (const [i, shape] of shapes.entries()) {
    const run = await runCall(w.drachtio, w.app, shape, { to: NUMBER, from: `two${i}` });
    t.equal(run.failure, null, `${shape}: played`);
    legs.push(run.callId, ...(run.bLegCallId ? [run.bLegCallId] : []));
  }
  // Every leg ends in one row: by its stop, or (the B2BUA call canceled after 100) by a sweep.
  for (const id of legs) t.equal((await waitRows(w.stores.pool, id, 1, 15_000)).length, 1, `a row for ${id}`);
  const sent = shapes.reduce((n, s) => n + CALL_SHAPES[s].length, 0);
  t.equal(await eventually(async () => (await eventsOf(w.daemons[0]!)) + (await eventsOf(w.daemons[1]!)) === sent), true,
    `drachtio-server delivered each of its ${sent} events once`);
  for (const [i, d] of w.daemons.entries()) t.ok((await eventsOf(d)) >= sent / 3, `daemon ${i} got its share (${await eventsOf(d)} of ${sent})`);
  const orphans = (await scrapeValue(w.daemons[0]!.get, 'cdr_orphans_total', { kind: 'unanswered' }))
    + (await scrapeValue(w.daemons[1]!.get, 'cdr_orphans_total', { kind: 'unanswered' }));
  t.equal(orphans, 1, 'one orphan, finalised by one daemon');
  for (const id of legs) t.equal((await rowsOf(w.stores.pool, id)).length, 1, `still exactly one row for ${id}`);
  t.equal(legs.length, new Set(legs).size, 'distinct legs');
  const [[n]] = await w.stores.pool.query('SELECT COUNT(*) AS n FROM cdrs') as unknown as [{ n: number }[]];
  t.equal(Number(n!.n), legs.length, 'no other row');
});
