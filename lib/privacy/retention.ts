// The 30-day promise: every CDR attempted more than CDR_RETENTION_DAYS ago is deleted.
// Whole expired day partitions are dropped (instant, no row locks); the rows of the
// partition that straddles the cut-off (and the lowest one, which also holds anything
// older) are deleted in small batches, each its own short transaction. One instance at
// a time: a MySQL named lock, not waited for — whoever holds it is doing the work.
//
// Legal holds: before anything is dropped or deleted, the expired rows a standing hold covers are
// copied into cdrs_held, so a dropped partition never takes a held row and cdrs keeps its 30 days.
// Rows of cdrs_held that no standing hold covers any more (the hold was lifted or lapsed) go too.
import type { Pool, PoolConnection } from 'mysql2/promise';
import { listPartitions, MAX_PARTITION } from '../db/cdr-partitions.js';
import { countRows, moveHeldAside, releaseUnheld } from '../db/cdrs-held.js';
import { deleteCdrsBefore, DELETE_BATCH, oldestCdr } from '../db/cdrs.js';
import { alterPromptly, LOCKS, withNamedLock } from '../db/locks.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { DAY_MS } from '../time.js';
import { loadHoldSet } from './holds.js';

export interface PurgeResult {
  ran: boolean;
  partitionsDropped: string[];
  /** Rows of cdrs deleted one batch at a time (rows of dropped partitions are not counted). */
  rowsDeleted: number;
  /** Held rows moved from cdrs into cdrs_held this run. */
  rowsHeld: number;
  /** Rows of cdrs_held deleted because no hold covers them any more. */
  heldReleased: number;
  cutoff: Date;
}

export interface Retention {
  purge(now?: number): Promise<PurgeResult>;
  /** Reads the oldest CDR (one index lookup) and sets the age gauge. */
  measure(now?: number): Promise<number>;
}

export function createRetention(o: {
  pool: Pool; log: Logger; metrics: Metrics; retentionDays: number; batchSize?: number; clock?: () => number;
}): Retention {
  const clock = o.clock ?? Date.now;
  const batch = o.batchSize ?? DELETE_BATCH;

  async function purge(now = clock()): Promise<PurgeResult> {
    const cutoff = new Date(now - o.retentionDays * DAY_MS);
    try {
      const r = await withNamedLock(o.pool, LOCKS.retention, 0, (conn) => purgeLocked(conn, cutoff, new Date(now)));
      if (!r.locked) return { ran: false, partitionsDropped: [], rowsDeleted: 0, rowsHeld: 0, heldReleased: 0, cutoff };
      o.metrics.retentionPartitionsDropped.inc(r.value.partitionsDropped.length);
      o.metrics.retentionRowsPurged.inc(r.value.rowsDeleted + r.value.heldReleased);
      o.metrics.retentionRuns.inc({ result: 'ok' });
      const { partitionsDropped, rowsDeleted, rowsHeld, heldReleased } = r.value;
      o.log.info({ partitionsDropped: partitionsDropped.length, rowsDeleted, rowsHeld, heldReleased, cutoff: cutoff.toISOString() }, 'CDR retention purge done');
      return r.value;
    } catch (err) {
      o.metrics.retentionRuns.inc({ result: 'failed' });
      throw err;
    }
  }

  async function purgeLocked(conn: PoolConnection, cutoff: Date, now: Date): Promise<PurgeResult> {
    // Placing a hold takes this lock too: the holds read here stay the standing ones throughout.
    const held = await loadHoldSet(conn, now);
    const rowsHeld = held.holds.length ? await moveHeldAside(conn, cutoff, held, now) : 0;
    const parts = (await listPartitions(conn)) ?? [];
    // A day partition is wholly expired when its upper bound is at or before the cut-off
    // (the lowest one also holds older rows, all below that bound too). A table must keep
    // one partition: with no catch-all, the last day stays and is emptied row by row.
    const expired = parts.filter((p) => p.name !== MAX_PARTITION && p.lessThan !== null && p.lessThan <= cutoff.getTime());
    const droppable = parts.some((p) => p.name === MAX_PARTITION) || expired.length < parts.length
      ? expired.map((p) => p.name) : expired.slice(0, -1).map((p) => p.name);
    if (droppable.length) await alterPromptly(conn, `ALTER TABLE cdrs DROP PARTITION ${droppable.join(', ')}`);
    const rows = await deleteCdrsBefore(conn, cutoff, batch);
    const heldReleased = await releaseUnheld(conn, cutoff, held, batch);
    return { ran: true, partitionsDropped: droppable, rowsDeleted: rows, rowsHeld, heldReleased, cutoff };
  }

  async function measure(now = clock()): Promise<number> {
    const oldest = await oldestCdr(o.pool);
    const age = oldest ? Math.max(0, (now - oldest.getTime()) / 1000) : 0;
    o.metrics.oldestCdrAge.set(age);
    o.metrics.cdrsHeld.set(await countRows(o.pool, 'cdrs_held', 'TRUE', []));
    return age;
  }

  return { purge, measure };
}
