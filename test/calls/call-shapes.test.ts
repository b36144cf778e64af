// Every call shape as drachtio-server v0.9.10 really reports it (test/peer/cdr-calls.ts, checked against
// the real server by test/e2e/cdr-events.test.ts), played through the real daemon: the rows say what
// happened to the call, whichever stop arrives first, on one daemon or two.
import t, { type Test } from 'tap';
import { createCallState } from '../../lib/calls/correlate.js';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { CALL_SHAPES, playCall, type CallShape } from '../peer/cdr-calls.js';
import { eventually, freshStores, provision, type Daemon, type Stores } from '../helpers/harness.js';
import { cdrDaemon, clock, gauge, leg, metric, rowsOf, scrape, tod, waitRows, type Leg } from './helpers.js';

const NUMBER = '+15557770001';
const T0 = Date.parse('2030-07-03T10:00:00Z');
const c = clock('2030-07-03T10:00:00Z');
let stores: Stores;
let peer: DrachtioPeer;
let account = '';
let one: Daemon;

t.before(async () => {
  stores = await freshStores('calls_shapes');
  peer = await DrachtioPeer.listen();
  one = await cdrDaemon(stores, peer, { now: c.now });
  account = await provision(stores.pool, { realm: 'shapes.example', numbers: [NUMBER] });
});
t.teardown(async () => {
  await one.close();
  await peer.close();
  await stores.close();
});

/** The row's columns, and `ends`: the index of the event that ended the leg (its stamp is terminated_at). */
type Expect = Record<string, unknown> & { ends: number };
const inbound = { direction: 'inbound', to_user: NUMBER } as const;
const outbound = { direction: 'outbound', to_user: NUMBER } as const;
// What each leg's row must say (null: no row yet: drachtio reported no end for it).
const EXPECTED: Record<CallShape, { A: Expect | null; B?: Expect }> = {
  'proxy: answered, the caller hangs up': {
    A: { ...inbound, role: 'proxy', answered: 1, sip_status: 200, termination_reason: 'normal-release', duration: 2, ends: 4 },
  },
  // The target's 486 (event 2) is reported again as forwarded to the caller (3): that one ends the call.
  'proxy: 486 from the target': {
    A: { ...inbound, role: null, answered: 0, sip_status: 486, termination_reason: 'call-rejected', duration: 0, ends: 3 },
  },
  // drachtio's own 487 to the caller, labelled call-rejected, comes first: the caller canceled.
  'proxy: canceled after 100': { A: { ...inbound, answered: 0, sip_status: 487, termination_reason: 'call-canceled', ends: 2 } },
  'proxy: canceled after 180': { A: { ...inbound, answered: 0, sip_status: 487, termination_reason: 'call-canceled', ends: 2 } },
  'proxy: 486 from the first target, the second answers': {
    A: { ...inbound, role: 'proxy', answered: 1, sip_status: 200, termination_reason: 'normal-release', duration: 2, ends: 6 },
  },
  'b2bua: answered, the caller hangs up': {
    A: { ...inbound, role: 'uas', answered: 1, sip_status: 200, termination_reason: 'normal-release', duration: 1, ends: 4 },
    B: { ...outbound, role: 'uac', answered: 1, sip_status: 200, termination_reason: 'normal-release', duration: 3, ends: 5 },
  },
  'b2bua: 486 from the callee': {
    A: { ...inbound, answered: 0, sip_status: 486, termination_reason: 'call-rejected', ends: 3 },
    B: { ...outbound, answered: 0, sip_status: 486, termination_reason: 'call-rejected', ends: 2 },
  },
  'b2bua: canceled after 100': { A: null, B: { ...outbound, answered: 0, sip_status: 487, termination_reason: 'call-canceled', ends: 2 } },
  // A's stop carries the INVITE, no status: the stack answered it 487.
  'b2bua: canceled after 180': {
    A: { ...inbound, answered: 0, sip_status: 487, termination_reason: 'call-canceled', ends: 2 },
    B: { ...outbound, answered: 0, sip_status: 487, termination_reason: 'call-canceled', ends: 3 },
  },
};

let n = 0;
const legsFor = (shape: CallShape) => {
  const i = ++n;
  const A = leg({ fromUser: `caller${i}`, toUser: NUMBER, toHost: 'shapes.example', sourceIp: '203.0.113.40' });
  const B = leg({ fromUser: `caller${i}`, toUser: NUMBER, toHost: '198.51.100.40' });
  return shape.startsWith('b2bua') ? { A, B } : { A };
};
// One second between events: attempts at 0 and 1 s, and so on.
const second = (base: number) => (i: number) => tod(new Date(base + i * 1000).toISOString());

async function expectRows(t: Test, shape: CallShape, legs: { A: Leg; B?: Leg }, base: number) {
  for (const name of ['A', 'B'] as const) {
    const l = legs[name];
    if (!l) continue;
    const want = EXPECTED[shape][name];
    if (!want) {
      t.same(await rowsOf(stores.pool, l.callId), [], `${shape}: leg ${name} has no row: drachtio reported no end for it`);
      continue;
    }
    const { ends, ...columns } = want;
    const rows = await waitRows(stores.pool, l.callId);
    t.equal(rows.length, 1, `${shape}: one row for leg ${name}`);
    t.match(rows[0], { account_sid: account, ...columns }, `${shape}: leg ${name}`);
    t.equal((rows[0]!.terminated_at as Date).getTime(), base + ends * 1000, `${shape}: leg ${name} ended by ${CALL_SHAPES[shape][ends]}`);
  }
}

t.test('each shape, in the order drachtio-server sends it, on one daemon', async (t) => {
  for (const shape of Object.keys(CALL_SHAPES) as CallShape[]) {
    const legs = legsFor(shape);
    const base = T0 + n * 60_000;
    await playCall(peer, CALL_SHAPES[shape], legs, second(base));
    await expectRows(t, shape, legs, base);
  }
  t.equal(await eventually(async () => gauge(await scrape(one), 'calls_in_flight') === 1), true,
    'one leg left in flight: the inbound leg of the B2BUA call canceled after 100 (the orphan sweep ends it)');
});

t.test('the stops of a leg in the other order, and split across two daemons: the same rows', async (t) => {
  const a = one;
  const b = await cdrDaemon(stores, peer, { now: c.now, clients: 2 });
  t.teardown(() => b.close());
  const dups = async () => (await metric(a.metrics.cdrsSkipped, { reason: 'duplicate' })) + (await metric(b.metrics.cdrsSkipped, { reason: 'duplicate' }));
  for (const shape of ['proxy: canceled after 180', 'proxy: 486 from the target', 'proxy: answered, the caller hangs up'] as const) {
    const events: readonly string[] = CALL_SHAPES[shape];
    const stops = events.filter((e) => e.includes(' stop/'));
    const reversed = [...events.filter((e) => !e.includes(' stop/')), ...[...stops].reverse()];
    const legs = legsFor(shape);
    const base = T0 + n * 60_000;
    const before = await dups();
    // Same stamps as in drachtio's order, so the row's instants do not depend on the order either.
    const stamp = second(base);
    await playCall(peer, reversed, legs, (i) => stamp(events.indexOf(reversed[i]!)));
    const [row] = await waitRows(stores.pool, legs.A.callId);
    const { ends, ...columns } = EXPECTED[shape].A!;
    t.match(row, columns, `${shape}, stops reversed, events dealt to two daemons`);
    t.equal((row!.terminated_at as Date).getTime(), base + ends * 1000, 'ended by the same stop');
    await eventually(async () => (await dups()) >= before + 1);
    t.equal(await dups(), before + 1, `${shape}: the other stop counts as a duplicate`);
    t.equal((await rowsOf(stores.pool, legs.A.callId)).length, 1, 'exactly one row');
  }
});

t.test('serial forking: the first target\'s 486 does not end the call the second target answers', async (t) => {
  const shape = 'proxy: 486 from the first target, the second answers';
  const events = CALL_SHAPES[shape];
  const legs = legsFor(shape);
  const base = T0 + n * 60_000;
  const stamp = second(base);
  const dupBefore = await metric(one.metrics.cdrsSkipped, { reason: 'duplicate' });
  // Up to the first target's 486, then wait until the daemon has dealt with it (as a real call would:
  // the second target rings for seconds): a row now would be the wrong one.
  await playCall(peer, events.slice(0, 3), legs, stamp);
  await eventually(async () => (await metric(one.metrics.cdrsSkipped, { reason: 'duplicate' })) > dupBefore
    || (await rowsOf(stores.pool, legs.A.callId)).length > 0);
  t.same(await rowsOf(stores.pool, legs.A.callId), [], 'no row after the first target\'s 486');
  t.match((await createCallState(stores.redis, stores.prefix, 600).read(legs.A.callId)).state, { lastStatus: 486, answeredAt: null }, 'kept as the last status seen');
  await playCall(peer, events.slice(3), legs, (i) => stamp(i + 3));
  const { ends, ...columns } = EXPECTED[shape].A!;
  const [row] = await waitRows(stores.pool, legs.A.callId);
  t.match(row, columns, 'the answered call');
  t.equal((row!.terminated_at as Date).getTime(), base + ends * 1000);
});
