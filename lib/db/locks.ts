// MySQL named locks (GET_LOCK): how instances take turns at work that must not overlap.
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';

export const LOCKS = {
  migrations: 'sip_sidecar_migrations',
  partitions: 'sip_sidecar_cdr_partitions',
  retention: 'sip_sidecar_cdr_retention',
  /** Held around each CDR batch INSERT and each CDR erasure, so an erased row cannot be re-inserted. */
  cdrWrite: 'sip_sidecar_cdr_write',
} as const;

/**
 * Runs `fn` on one connection while holding `name`. Waits up to `waitSeconds` (0: don't
 * wait) and returns `{ locked: false }` when the lock stayed taken.
 */
export async function withNamedLock<T>(
  pool: Pool, name: string, waitSeconds: number, fn: (conn: PoolConnection) => Promise<T>,
): Promise<{ locked: true; value: T } | { locked: false }> {
  const conn = await pool.getConnection();
  try {
    const [[row]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS ok', [name, waitSeconds]);
    if (row?.ok !== 1) return { locked: false };
    try {
      return { locked: true, value: await fn(conn) };
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [name]);
    }
  } finally {
    conn.release();
  }
}
