// Portability: an account's CDRs streamed as NDJSON or CSV, straight from a MySQL cursor
// to the HTTP response with back-pressure, so memory stays flat for a million rows.
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { streamCdrsOf, type CdrFilter } from '../db/cdrs.js';
import { streamHeldOf } from '../db/cdrs-held.js';
import { StoreUnavailableError } from '../errors.js';
import { withTimeout } from '../timeout.js';
import type { ExportFormat } from './service.js';

export const EXPORT_COLUMNS = [
  'cdr_id', 'account_sid', 'sip_callid', 'direction', 'from_user', 'to_user', 'remote_host', 'attempted_at',
  'answered_at', 'terminated_at', 'duration', 'answered', 'sip_status', 'termination_reason', 'role', 'user_agent', 'created_at',
] as const;

type Row = Record<(typeof EXPORT_COLUMNS)[number], unknown>;

const plain = (v: unknown): string | number | boolean | null => {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  return String(v);
};

// A spreadsheet runs a cell starting with one of these as a formula (a phone number "+1555…", a
// User-Agent "=HYPERLINK(…)"): such a text cell gets a leading apostrophe, which spreadsheets show
// as text and never evaluate. Numbers and booleans are written as they are; NDJSON is not touched.
const FORMULA_START = /^[=+\-@\t\r]/;

/** RFC 4180: quote a field holding a comma, a quote or a line break; neutralise a formula. */
export function csvField(v: string | number | boolean | null): string {
  if (v === null) return '';
  const s = typeof v === 'string' && FORMULA_START.test(v) ? `'${v}` : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const stalled = (ms: number) => new StoreUnavailableError('mysql', `export: no row from MySQL for ${ms} ms (ADMIN_REQUEST_TIMEOUT_MS)`);

/**
 * The rows of a query stream, each awaited at most `stallMs`. The response is streaming by then (its status
 * sent), so no request deadline applies: a MySQL that goes silent mid-export would otherwise hold the request
 * open for good. Time the client takes to read is not counted (the stream is only asked when it wants more).
 */
async function* unlessStalled(stream: Readable, stallMs: number): AsyncGenerator<unknown> {
  const it = stream[Symbol.asyncIterator]();
  try {
    for (;;) {
      const r = await withTimeout(it.next(), stallMs, () => stalled(stallMs));
      if (r.done) return;
      yield r.value;
    }
  } finally {
    stream.destroy();
  }
}

/**
 * One query's rows on a connection of its own (each awaited at most `stallMs`). A query that stalled, or an export
 * ended early (the client went away), leaves its connection mid-result: destroyed, not released, since a pool would
 * otherwise hand out (or never get back) a connection still busy with it.
 */
async function* queryRows(pool: Pool, open: (conn: PoolConnection) => Readable, stallMs: number): AsyncGenerator<unknown> {
  const pending = pool.getConnection();
  let conn: PoolConnection;
  try {
    conn = await withTimeout(pending, stallMs, () => stalled(stallMs));
  } catch (err) {
    // The connection may still come: it is not for us any more.
    pending.then((c) => c.destroy(), () => undefined);
    throw err;
  }
  let complete = false;
  try {
    yield* unlessStalled(open(conn), stallMs);
    complete = true;
  } finally {
    if (complete) conn.release(); else conn.destroy();
  }
}

/**
 * Streams the matching rows of cdrs_held (held past retention, so older than any row of cdrs),
 * then of cdrs: one sequence in attempted_at order. `progress` hears the count after each row; `stallMs`
 * ends the export with a StoreUnavailableError when MySQL sends no row for that long.
 */
export async function exportCdrs(pool: Pool, f: CdrFilter, format: ExportFormat, out: Writable,
  o: { stallMs: number; progress?: (rows: number) => void; end?: boolean }): Promise<number> {
  const progress = o.progress;
  let n = 0;
  const encode = new Transform({
    writableObjectMode: true,
    transform(raw: Row, _enc, cb) {
      const row = Object.fromEntries(EXPORT_COLUMNS.map((c) => [c, c === 'answered' ? raw[c] === 1 || raw[c] === true : plain(raw[c])]));
      const prefix = format === 'csv' && n === 0 ? `${EXPORT_COLUMNS.join(',')}\r\n` : '';
      n++;
      progress?.(n);
      cb(null, prefix + (format === 'csv'
        ? `${EXPORT_COLUMNS.map((c) => csvField(row[c] as string | number | boolean | null)).join(',')}\r\n`
        : `${JSON.stringify(row)}\n`));
    },
    flush(cb) {
      cb(null, format === 'csv' && n === 0 ? `${EXPORT_COLUMNS.join(',')}\r\n` : '');
    },
  });
  async function* rows() {
    yield* queryRows(pool, (conn) => streamHeldOf(conn, EXPORT_COLUMNS, f), o.stallMs);
    yield* queryRows(pool, (conn) => streamCdrsOf(conn, EXPORT_COLUMNS, f), o.stallMs);
  }
  // end: false leaves `out` open for the caller (a disclosure is recorded before the response ends).
  await pipeline(Readable.from(rows()), encode, out, { end: o.end ?? true });
  return n;
}
