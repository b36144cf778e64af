// The privacy audit's checks of the CDRs themselves, over a store the real daemon filled
// (test/privacy/audit-world.ts): a row past the retention, to the millisecond; a row of a leg that
// ended over 5 s into an opt-out, flapping opt-outs included; the opt-out history in UTC whatever the
// session's time zone.
import t from 'tap';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { sqlDateTime } from '../../lib/calls/row.js';
import { connectionOptions } from '../../lib/db/pool.js';
import { OPT_OUT_GRACE_MS } from '../../lib/privacy/audit.js';
import { auditWorld, DAY, NOW } from './audit-world.js';

const w = auditWorld(t, 'privacy_audit_cdrs');

t.test('cdr_past_retention: a CDR attempted more than 30 days ago, to the millisecond', async (t) => {
  const old = await w.insertCdr({ accountSid: w.acme, attemptedAt: NOW - 30 * DAY - 1, terminatedAt: NOW - 30 * DAY + 5000, callId: 'planted-old@x' });
  const edge = await w.insertCdr({ accountSid: w.acme, attemptedAt: NOW - 30 * DAY, terminatedAt: NOW - 30 * DAY + 5000, callId: 'planted-edge@x' });
  const r = await w.expectOnly(t, 'cdr_past_retention', 1, new RegExp(`^mysql cdrs 1 rows, e\\.g\\. cdr_id=${old}$`), 'one row past the retention');
  t.notMatch(r.checks.cdr_past_retention.samples.join(), String(edge), 'the row exactly 30 days old is within it');
  await w.deleteCdr(old);
  await w.expectClean(t, 'removed');
  await w.expectOnly(t, 'cdr_past_retention', 1, new RegExp(`^mysql cdrs 1 rows, e\\.g\\. cdr_id=${edge}$`), 'a millisecond later, the edge row is past it too', NOW + 1);
  await w.deleteCdr(edge);
});

t.test('cdr_while_opted_out: a CDR of a leg that ended over 5 s into an opt-out', async (t) => {
  await w.stores.pool.query('UPDATE accounts SET disable_cdrs = 1 WHERE account_sid = ?', [w.quiet]);
  const [[h]] = await w.stores.pool.query<RowDataPacket[]>(
    'SELECT changed_at FROM cdr_opt_out_history WHERE account_sid = ? ORDER BY id DESC LIMIT 1', [w.quiet]);
  const optedOut = (h!.changed_at as Date).getTime();

  const inGrace = await w.insertCdr({ accountSid: w.quiet, attemptedAt: optedOut - 60_000, terminatedAt: optedOut + OPT_OUT_GRACE_MS - 100, callId: 'planted-grace@x' });
  await w.expectClean(t, 'ended within the grace after the opt-out: the cache may not have known yet');
  const breach = await w.insertCdr({ accountSid: w.quiet, attemptedAt: optedOut - 60_000, terminatedAt: optedOut + OPT_OUT_GRACE_MS + 100, callId: 'planted-optout@x' });
  await w.expectOnly(t, 'cdr_while_opted_out', 1, new RegExp(`^mysql cdrs cdr_id=${breach}$`), 'ended 5.1 s into the opt-out');
  const other = await w.insertCdr({ accountSid: w.acme, attemptedAt: optedOut, terminatedAt: optedOut + 60_000, callId: 'planted-acme@x' });
  await w.expectOnly(t, 'cdr_while_opted_out', 1, new RegExp(`^mysql cdrs cdr_id=${breach}$`), "another account's CDR at the same time is fine");
  await w.deleteCdr(breach);
  await w.expectClean(t, 'removed');
  await w.deleteCdr(inGrace);
  await w.deleteCdr(other);

  // Out (above), in, out and in again within seconds, placed an hour on: a leg ending 2 s into the
  // second opt-out, 4 s after an opt-in, is within the grace; one ending 5.1 s into it is not.
  for (const v of [0, 1, 0]) await w.stores.pool.query('UPDATE accounts SET disable_cdrs = ? WHERE account_sid = ?', [v, w.quiet]);
  const [flips] = await w.stores.pool.query<RowDataPacket[]>(
    'SELECT id, disable_cdrs FROM cdr_opt_out_history WHERE account_sid = ? ORDER BY id DESC LIMIT 3', [w.quiet]);
  t.same(flips.map((f) => Number(f.disable_cdrs)), [0, 1, 0], 'the triggers recorded the three flips');
  const base = Date.now() + 3_600_000;
  const setAt = (id: unknown, at: number) => w.stores.pool.query('UPDATE cdr_opt_out_history SET changed_at = ? WHERE id = ?', [sqlDateTime(at), id]);
  await setAt(flips[2]!.id, base + 2000); // in
  await setAt(flips[1]!.id, base + 4000); // out
  await setAt(flips[0]!.id, base + 12_000); // in
  const flapping = await w.insertCdr({ accountSid: w.quiet, attemptedAt: base + 1000, terminatedAt: base + 6000, callId: 'planted-flap@x' });
  await w.expectClean(t, 'ended 2 s into an opt-out that followed an opt-in 2 s before it: within the grace');
  const tooLate = await w.insertCdr({ accountSid: w.quiet, attemptedAt: base + 1000, terminatedAt: base + 9100, callId: 'planted-flap-late@x' });
  await w.expectOnly(t, 'cdr_while_opted_out', 1, new RegExp(`^mysql cdrs cdr_id=${tooLate}$`), 'ended 5.1 s into that opt-out');
  await w.deleteCdr(flapping);
  await w.deleteCdr(tooLate);
  await w.expectClean(t, 'removed');
});

t.test('opt-out history is in UTC whatever the time zone of the session that flipped it', async (t) => {
  const conn = await mysql.createConnection({ ...connectionOptions(w.stores.mysqlUrl), database: w.stores.database });
  t.teardown(() => conn.end());
  /** Flips w.acme's opt-out from a session in time zone `tz`; returns the wall-clock instant of the flip. */
  const flip = async (tz: string, value: 0 | 1) => {
    await conn.query('SET time_zone = ?', [tz]);
    const wall = Date.now();
    await conn.query('UPDATE accounts SET disable_cdrs = ? WHERE account_sid = ?', [value, w.acme]);
    const [[row]] = await w.stores.pool.query<RowDataPacket[]>(
      'SELECT changed_at FROM cdr_opt_out_history WHERE account_sid = ? ORDER BY id DESC LIMIT 1', [w.acme]);
    const offMinutes = ((row!.changed_at as Date).getTime() - wall) / 60_000;
    t.ok(Math.abs(offMinutes) < 30, `recorded in UTC from a ${tz} session (${offMinutes.toFixed(1)} min off the wall clock, not hours)`);
    return wall;
  };
  // An operator east of UTC opts w.acme out: a leg ending 30 s later must not have been stored.
  const out = await flip('+05:00', 1);
  const leaked = await w.insertCdr({ accountSid: w.acme, attemptedAt: out, terminatedAt: out + 30_000, callId: 'planted-tz-out@x' });
  await w.expectOnly(t, 'cdr_while_opted_out', 1, new RegExp(`^mysql cdrs cdr_id=${leaked}$`), 'found');
  await w.deleteCdr(leaked);
  // One west of UTC opts it back in: a leg ending 30 s later is legitimate.
  const back = await flip('-05:00', 0);
  const fine = await w.insertCdr({ accountSid: w.acme, attemptedAt: back, terminatedAt: back + 30_000, callId: 'planted-tz-in@x' });
  await w.expectClean(t, 'no breach after the opt-in');
  await w.deleteCdr(fine);
});

