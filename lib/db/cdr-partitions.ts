// The DDL of `cdrs`: its day partitions (RANGE COLUMNS on attempted_at). Partition pYYYYMMDD holds the rows
// attempted on that UTC day (its bound is the next midnight); the lowest one also holds anything
// older, and `pmax` catches anything later than the last day, so an INSERT never fails for want of
// a partition. Kept from yesterday to today + 7, at start and every hour, by whichever instance
// takes the named lock; a gap left while no daemon ran becomes one partition ending yesterday.
// The retention purge drops whole partitions whose day is past the retention period.
import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { Db } from './db.js';
import { DAY_MS } from '../time.js';
import { alterPromptly, LOCKS, withNamedLock } from './locks.js';

export const MAX_PARTITION = 'pmax';

export interface PartitionSpec { name: string; lessThan: number }

export function partitionName(dayStartMs: number): string {
  return `p${new Date(dayStartMs).toISOString().slice(0, 10).replace(/-/g, '')}`;
}

/** The partitions to add, given the upper bounds (ms) of the day partitions that exist. */
export function planPartitions(existingBounds: readonly number[], now: number, o = { behindDays: 1, aheadDays: 7 }): PartitionSpec[] {
  const today = Math.floor(now / DAY_MS);
  const first = today - o.behindDays;
  const last = today + o.aheadDays;
  const covered = existingBounds.length ? Math.max(...existingBounds.map((b) => Math.ceil(b / DAY_MS))) : null;
  const plan: PartitionSpec[] = [];
  let day = first;
  if (covered !== null) {
    if (covered < first) plan.push({ name: partitionName((first - 1) * DAY_MS), lessThan: first * DAY_MS });
    day = Math.max(first, covered);
  }
  for (; day <= last; day++) plan.push({ name: partitionName(day * DAY_MS), lessThan: (day + 1) * DAY_MS });
  return plan;
}

export interface PartitionInfo { name: string; lessThan: number | null }

export async function listPartitions(db: Db): Promise<PartitionInfo[] | null> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT PARTITION_NAME AS name, PARTITION_DESCRIPTION AS description FROM information_schema.PARTITIONS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'cdrs' ORDER BY PARTITION_ORDINAL_POSITION`);
  if (rows.length === 0 || rows[0].name === null) return null; // no table, or not partitioned
  return rows.map((r) => {
    const d = String(r.description).replace(/^'|'$/g, '');
    return { name: String(r.name), lessThan: d === 'MAXVALUE' ? null : Date.parse(`${d.replace(' ', 'T')}Z`) };
  });
}

/** Adds the missing day partitions; returns their names ([] when none were needed or the table is not partitioned). */
export async function ensurePartitions(pool: Pool, now: number, o = { behindDays: 1, aheadDays: 7 }): Promise<string[]> {
  const r = await withNamedLock(pool, LOCKS.partitions, 10, async (conn) => {
    const parts = await listPartitions(conn);
    if (!parts) return [];
    const bounds = parts.filter((p) => p.lessThan !== null).map((p) => p.lessThan as number);
    const plan = planPartitions(bounds, now, o);
    if (plan.length === 0) return [];
    const defs = plan.map((p) => `PARTITION ${p.name} VALUES LESS THAN ('${new Date(p.lessThan).toISOString().slice(0, 19).replace('T', ' ')}')`);
    if (parts.some((p) => p.name === MAX_PARTITION)) {
      await alterPromptly(conn, `ALTER TABLE cdrs REORGANIZE PARTITION ${MAX_PARTITION} INTO (${defs.join(', ')}, PARTITION ${MAX_PARTITION} VALUES LESS THAN (MAXVALUE))`);
    } else {
      await alterPromptly(conn, `ALTER TABLE cdrs ADD PARTITION (${defs.join(', ')})`);
    }
    return plan.map((p) => p.name);
  });
  return r.locked ? r.value : [];
}
