// Versioned, idempotent migrations recorded in schema_migrations. A named lock makes
// several instances starting together apply each migration once.
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { MigrationError } from '../errors.js';
import type { Logger } from '../log.js';
import { LOCKS, withNamedLock } from './locks.js';
import { migrations, type Migration } from './migrations/index.js';

export async function migrate(pool: Pool, log: Logger, list: readonly Migration[] = migrations): Promise<number[]> {
  const r = await withNamedLock(pool, LOCKS.migrations, 60, (conn) => applyAll(conn, log, list));
  if (!r.locked) throw new MigrationError(`could not take the migration lock "${LOCKS.migrations}" within 60 s; another instance may be stuck migrating`);
  return r.value;
}

async function applyAll(conn: PoolConnection, log: Logger, list: readonly Migration[]): Promise<number[]> {
  await conn.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INT UNSIGNED NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
  ) ENGINE=InnoDB COMMENT='Schema migrations applied by sip-data-sidecar'`);
  const [rows] = await conn.query<RowDataPacket[]>('SELECT version FROM schema_migrations');
  const done = new Set(rows.map((r) => Number(r.version)));
  const applied: number[] = [];
  for (const m of [...list].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue;
    try {
      // DDL commits implicitly in MySQL, so each statement must be safe to re-run
      // (IF NOT EXISTS) should a crash land between two of them.
      for (const step of m.up) {
        if (typeof step === 'string') await conn.query(step);
        else if ((await conn.query<RowDataPacket[]>(step.unless))[0].length === 0) await conn.query(step.sql);
      }
      await conn.query('INSERT INTO schema_migrations (version, name) VALUES (?, ?)', [m.version, m.name]);
    } catch (err) {
      throw new MigrationError(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
    }
    log.info({ version: m.version, migration: m.name }, 'applied schema migration');
    applied.push(m.version);
  }
  return applied;
}
