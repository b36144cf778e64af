// The schema as a whole, for the privacy audit's sweep of every table: its base tables, and the
// rows of one. Statements on a single table live in that table's module.
import type { RowDataPacket } from 'mysql2/promise';
import type { Db } from './db.js';

export async function baseTables(db: Db): Promise<string[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'`);
  return rows.map((r) => String(r.t));
}

/** Every row of `table` (a name baseTables returned, never input). */
export async function allRows(db: Db, table: string): Promise<RowDataPacket[]> {
  const [rows] = await db.query<RowDataPacket[]>(`SELECT * FROM \`${table}\``);
  return rows;
}
