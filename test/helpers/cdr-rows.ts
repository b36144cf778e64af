// CDR rows written straight into MySQL, as the writer (cdrs) or the retention purge (cdrs_held) would,
// for tests of what the privacy flows do with stored rows.
import { randomUUID } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { sqlDateTime } from '../../lib/calls/row.js';
import type { Pool } from '../../lib/db/pool.js';

let seq = 0;

export interface InsertedCdr { callId: string; id: number; at: number }

export async function insertCdr(pool: Pool, accountSid: string, o: { at: number; from?: string; to?: string; table?: 'cdrs' | 'cdrs_held'; ip?: string }): Promise<InsertedCdr> {
  const callId = `row-${++seq}-${randomUUID()}`;
  const cols = ['account_sid', 'sip_callid', 'direction', 'from_user', 'to_user', 'remote_host', 'attempted_at', 'answered_at', 'terminated_at',
    'duration', 'answered', 'sip_status', 'termination_reason', 'role', 'user_agent'];
  const values: unknown[] = [accountSid, callId, 'inbound', o.from ?? '15557770000', o.to ?? '15550001111', o.ip ?? '203.0.113.77',
    sqlDateTime(o.at), sqlDateTime(o.at + 2000), sqlDateTime(o.at + 62_000), 60, 1, 200, 'normal-release', 'uas', 'Phone/1.0'];
  if (o.table === 'cdrs_held') {
    // cdrs_held keeps the id a row had in cdrs: take one from a range cdrs never reaches in a test.
    const id = 9_000_000_000 + seq;
    await pool.query(`INSERT INTO cdrs_held (cdr_id, ${cols.join(', ')}, created_at, held_at) VALUES (?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))`, [id, values]);
    return { callId, id, at: o.at };
  }
  const [r] = await pool.query<ResultSetHeader>(`INSERT INTO cdrs (${cols.join(', ')}) VALUES (?)`, [values]);
  return { callId, id: r.insertId, at: o.at };
}

/** The call ids in `table`, sorted. */
export async function callIds(pool: Pool, table: 'cdrs' | 'cdrs_held', where = '1=1', params: unknown[] = []): Promise<string[]> {
  const [rows] = await pool.query<RowDataPacket[]>(`SELECT sip_callid FROM ${table} WHERE ${where}`, params);
  return rows.map((r) => String(r.sip_callid)).sort();
}

export const sorted = (xs: readonly { callId: string }[]) => xs.map((x) => x.callId).sort();
