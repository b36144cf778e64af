// Reading what an admin request carries: query parameters, ISO 8601 dates, small JSON bodies.
// Anything wrong is a BadInputError naming the parameter; nothing is ever interpolated into SQL.
import type http from 'node:http';
import { BadInputError } from '../errors.js';
import type { ExportFormat } from '../privacy/service.js';
import { readBody } from './respond.js';

const DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

export function onlyParams(url: URL, allowed: readonly string[]): void {
  for (const k of url.searchParams.keys()) if (!allowed.includes(k)) throw new BadInputError(`unknown parameter "${k}"`);
}

export function date(v: string | null, name: string): Date | null {
  if (v === null) return null;
  // A bare date or a time without zone means UTC, as every timestamp the daemon stores.
  const iso = /[zZ]|[+-]\d{2}:?\d{2}$/.test(v) || v.length === 10 ? v : `${v}Z`;
  const d = new Date(iso.replace(' ', 'T'));
  if (!DATE.test(v) || Number.isNaN(d.getTime())) throw new BadInputError(`${name} must be an ISO 8601 date or date-time, e.g. 2026-11-01 or 2026-11-01T12:00:00Z`);
  return d;
}

export function format(url: URL): ExportFormat {
  const f = url.searchParams.get('format') ?? 'ndjson';
  if (f !== 'ndjson' && f !== 'csv') throw new BadInputError('format must be ndjson or csv');
  return f;
}

/** A JSON object body of at most `limit` bytes whose keys are all in `allowed`. */
export async function readJson(req: http.IncomingMessage, limit: number, allowed: readonly string[], shape: string): Promise<Record<string, unknown>> {
  const raw = await readBody(req, limit);
  if (raw === null) throw new BadInputError('body too large');
  let body: unknown;
  try { body = JSON.parse(raw); } catch { throw new BadInputError(`body must be JSON: ${shape}`); }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadInputError(`body must be ${shape}`);
  for (const k of Object.keys(body)) if (!allowed.includes(k)) throw new BadInputError(`body must be ${shape} (unknown field "${k}")`);
  return body as Record<string, unknown>;
}

export function sendStreamHead(res: http.ServerResponse, f: ExportFormat, filename: string): void {
  res.writeHead(200, {
    'content-type': f === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
    'content-disposition': `attachment; filename="${filename}.${f}"`,
  });
  // Sent now, not with the first row: the client learns at once that its export started, and a body cut short
  // later (a store failing mid-export) reads as exactly that rather than as a connection that never answered.
  res.flushHeaders();
}
