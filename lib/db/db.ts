// What a table module runs its statements on: the pool, or one connection of it (a transaction,
// a named lock).
import type { Connection, Pool, PoolConnection } from 'mysql2/promise';

export type Db = Pick<Connection, 'query' | 'execute'>;

/** Runs `fn` in one transaction on one connection of the pool: committed, or rolled back on error. */
export async function inTransaction<T>(pool: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    const value = await fn(conn);
    await conn.commit();
    return value;
  } catch (err) {
    await conn.rollback().catch(() => undefined); // the connection may be what failed
    throw err;
  } finally {
    conn.release();
  }
}
