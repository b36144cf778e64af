// What the failover tests (cluster.test.ts, sentinel.test.ts) share: answered calls kept coming through a
// Redis failover, and the check that every one of them is in MySQL exactly once.
import type { Test } from 'tap';
import type { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, type Daemon } from '../helpers/harness.js';
import type { Pool } from '../../lib/db/pool.js';
import { answeredLeg, cdrRows, type Leg } from '../calls/helpers.js';

export interface CallLoad {
  /** Stops sending; resolves with every call whose three events were sent (each one owed a row). */
  stop(): Promise<Leg[]>;
}

/** One answered call every `gapMs` until stopped, each a new leg from `nextLeg`; register stop() as a teardown too. */
export function startCallLoad(peer: DrachtioPeer, nextLeg: () => Leg, gapMs = 20): CallLoad {
  const answered: Leg[] = [];
  let stopping = false;
  let failed: unknown = null;
  const running = (async () => {
    while (!stopping) {
      const l = nextLeg();
      const now = new Date().toISOString();
      await answeredLeg(peer, l, 'inbound', { attempt: now, answer: now, end: now });
      answered.push(l);
      await new Promise((r) => setTimeout(r, gapMs));
    }
  })().catch((err: unknown) => { failed = err; }); // surfaced by stop(), not as an unhandled rejection
  return {
    async stop() {
      stopping = true;
      await running;
      if (failed) throw failed;
      return answered;
    },
  };
}

/** Rows = answered calls, none twice, no event logged lost or dropped; returns the number of rows. */
export async function assertEveryCallOnce(t: Test, pool: Pool, daemon: Daemon, answered: readonly Leg[]): Promise<number> {
  const ids = answered.map((l) => l.callId);
  const count = async () => (await cdrRows(pool, 'sip_callid IN (?)', [ids])).length;
  await eventually(async () => (await count()) >= ids.length, 30_000, 200, `${ids.length} CDR rows, one per answered call`);
  const rows = await cdrRows(pool, 'sip_callid IN (?)', [ids]);
  t.equal(rows.length, ids.length, `CDR rows = answered calls (${ids.length}): 0 lost`);
  t.equal(new Set(rows.map((r) => String(r.sip_callid))).size, rows.length, '0 duplicated');
  const dropped = daemon.logs.filter((l) => /CDR event (lost|dropped)/.test(String(l.msg)));
  t.same(dropped, [], 'no CDR event lost or dropped');
  return rows.length;
}
