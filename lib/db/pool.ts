// The MySQL pool, and the start-up steps that make its database exist.
import mysql from 'mysql2/promise';
import type { Pool, PoolOptions } from 'mysql2/promise';
import type { Config } from '../../config/index.js';

export type { Pool };

export function connectionOptions(url: string): PoolOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    timezone: 'Z',
    dateStrings: false,
    supportBigNumbers: true,
    connectTimeout: 5000,
  };
}

/** Where the daemon talks to, safe to log: never the password. */
export function describeMysql(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 3306}`;
}

export function createPool(config: Config['mysql'], connectionLimit = 10): Pool {
  const pool = mysql.createPool({
    ...connectionOptions(config.url),
    database: config.database,
    connectionLimit,
    waitForConnections: true,
    queueLimit: 1000,
    enableKeepAlive: true,
  });
  // `timezone: 'Z'` only shapes how the driver converts JS dates; the session's own zone
  // decides CURRENT_TIMESTAMP defaults. Every session works in UTC, so DATETIME means UTC.
  pool.pool.on('connection', (conn) => {
    conn.query("SET time_zone = '+00:00'", (err: Error | null) => {
      if (err) conn.destroy();
    });
  });
  return pool;
}

/** CREATE DATABASE IF NOT EXISTS, over a connection that names no database. */
export async function ensureDatabase(config: Config['mysql']): Promise<void> {
  const conn = await mysql.createConnection(connectionOptions(config.url));
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${config.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
}
