// MySQL named locks (GET_LOCK): how instances take turns at work that must not overlap.
// Lock names are server-wide, so each is scoped to the current database: deployments (or test
// files) with their own databases on one MySQL server never skip or wait for one another's work.
import { createHash } from 'node:crypto';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';

export const LOCKS = {
  migrations: 'sip_sidecar_migrations',
  partitions: 'sip_sidecar_cdr_partitions',
  retention: 'sip_sidecar_cdr_retention',
  /** Held around each CDR batch INSERT and each CDR erasure, so an erased row cannot be re-inserted. */
  cdrWrite: 'sip_sidecar_cdr_write',
} as const;

/** `name` scoped to the connection's database; at most 43 characters (MySQL allows 64). */
const SCOPED = `CONCAT(?, ':', LEFT(SHA2(IFNULL(DATABASE(), ''), 256), 16))`;

/** The server-wide name of lock `name` for `database`, as IS_USED_LOCK() and the processlist show it. */
export function scopedLockName(name: string, database: string): string {
  return `${name}:${createHash('sha256').update(database).digest('hex').slice(0, 16)}`;
}

/**
 * Runs `fn` on one connection while holding `name`. Waits up to `waitSeconds` (0: don't
 * wait) and returns `{ locked: false }` when the lock stayed taken.
 */
export async function withNamedLock<T>(
  pool: Pool, name: string, waitSeconds: number, fn: (conn: PoolConnection) => Promise<T>,
): Promise<{ locked: true; value: T } | { locked: false }> {
  const conn = await pool.getConnection();
  try {
    const [[row]] = await conn.query<RowDataPacket[]>(`SELECT GET_LOCK(${SCOPED}, ?) AS ok`, [name, waitSeconds]);
    if (row?.ok !== 1) return { locked: false };
    try {
      return { locked: true, value: await fn(conn) };
    } finally {
      await conn.query(`SELECT RELEASE_LOCK(${SCOPED})`, [name]);
    }
  } finally {
    conn.release();
  }
}

/**
 * ALTER TABLE waits for every open statement on the table (a slow export, say), and every
 * later statement queues behind it: wait 5 s at most and let the caller retry later, so
 * CDR inserts are never stalled behind partition upkeep for long.
 */
export async function alterPromptly(conn: PoolConnection, sql: string): Promise<void> {
  await conn.query('SET SESSION lock_wait_timeout = 5');
  try {
    await conn.query(sql);
  } finally {
    await conn.query('SET SESSION lock_wait_timeout = DEFAULT');
  }
}
