// Rows and readers shared by the admin API's tests.
import { randomUUID } from 'node:crypto';
import type { Pool } from '../../lib/db/pool.js';

export interface CdrOptions { from?: string; to?: string; daysAgo?: number; ua?: string }

let seq = 0;
/** A CDR row written as the writer would, with every column set; returns its Call-ID. */
export async function insertCdrRow(pool: Pool, accountSid: string, o: CdrOptions = {}): Promise<string> {
  const at = new Date(Date.now() - (o.daysAgo ?? 1) * 86_400_000 - ++seq * 1000);
  const callId = `adm-${seq}-${randomUUID()}`;
  await pool.query(
    `INSERT INTO cdrs (account_sid, sip_callid, direction, from_user, to_user, remote_host, attempted_at, answered_at, terminated_at,
      duration, answered, sip_status, termination_reason, role, user_agent) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    [accountSid, callId, 'inbound', o.from ?? '15557770000', o.to ?? '15550001111', '203.0.113.77', at, new Date(at.getTime() + 2000),
      new Date(at.getTime() + 62_000), 60, 1, 200, 'normal-release', 'uas', o.ua ?? 'Phone/1.0'],
  );
  return callId;
}

/** RFC 4180 reader: quoted fields may hold commas, quotes and line breaks. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i++; } else field += c;
  }
  return rows;
}
