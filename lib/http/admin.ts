// The admin API: thin routes over lib/privacy. Mounted only when ADMIN_TOKEN is set.
import type http from 'node:http';
import { BadInputError, DeadlineError, errorKind, errorSummary, reportBug, reportFailure } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ExportFormat, PrivacyService } from '../privacy/service.js';
import { DAY_MS } from '../time.js';
import { bearerMatcher } from './bearer.js';
import { withTimeout } from '../timeout.js';
import { readBody, sendError, sendJson } from './respond.js';
import type { Route } from './server.js';

const SID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMBER = /^[A-Za-z0-9+*#._-]{1,64}$/;
const DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const MAX_RANGE_DAYS = 31;
const PATH = /^\/v1\/accounts\/([^/]+)(?:\/(cdrs|registrations|cdr-opt-out))?\/?$/;

const BadRequest = BadInputError;

/** The route's shape, never its values: a path may hold an account, a SIP user or a phone number. */
export function routeShape(method: string | undefined, pathname: string): string {
  const m = PATH.exec(pathname);
  return `${method ?? '?'} ${m ? `/v1/accounts/:sid${m[2] ? `/${m[2]}` : ''}` : '(no route)'}`;
}

export function createAdminRoute(o: {
  token: string; service: PrivacyService; log: Logger; metrics: Metrics; now?: () => number;
  /** ADMIN_REQUEST_TIMEOUT_MS: a request still waiting on a store by then is answered 503. */
  deadlineMs: number;
}): Route {
  const now = o.now ?? Date.now;
  const authorized = bearerMatcher(o.token);

  return async (req, res, url) => {
    if (!url.pathname.startsWith('/v1/')) return false;
    const route = routeShape(req.method, url.pathname);
    res.on('finish', () => {
      o.metrics.adminRequests.inc({ status: String(res.statusCode) });
      if (res.statusCode >= 400) o.log.info({ route, status: res.statusCode }, 'admin request refused');
    });
    if (!authorized(req.headers.authorization)) {
      sendError(res, 401, 'unauthorized', 'a valid "Authorization: Bearer <ADMIN_TOKEN>" header is required', { 'www-authenticate': 'Bearer' });
      return true;
    }
    const m = PATH.exec(url.pathname);
    if (!m) { sendError(res, 404, 'not_found', 'no such route; see the README\'s "Admin API"'); return true; }
    const [, sid, what] = m as unknown as [string, string, string | undefined];
    try {
      if (!SID.test(sid)) throw new BadRequest('account_sid must be a UUID');
      await withinDeadline(dispatch(req, res, url, sid.toLowerCase(), what ?? 'account'), res, route);
    } catch (err) {
      const kind = errorKind(err);
      if (res.headersSent) {
        // A stream cut short (an export whose store failed): the client sees a truncated body.
        if (kind === 'bug') reportBug(o, 'admin', err, 'admin request failed mid-response', { route });
        else o.log.error({ route, err: errorSummary(err) }, 'admin response cut short: store unavailable');
        res.destroy();
      } else if (kind === 'bad_input') {
        sendError(res, err instanceof BadInputError ? err.status : 400, 'bad_request', (err as Error).message);
      } else if (kind === 'unavailable') {
        o.log.warn({ route, err: errorSummary(err) }, err instanceof DeadlineError
          ? 'admin request answered 503: no answer from the stores within ADMIN_REQUEST_TIMEOUT_MS'
          : 'admin request answered 503: store unavailable');
        sendError(res, 503, 'unavailable', 'a store is unavailable; nothing was changed that a retry would not finish', { 'retry-after': '5' });
      } else {
        reportBug(o, 'admin', err, 'admin request failed', { route });
        sendError(res, 500, 'internal', 'internal error');
      }
    }
    return true;
  };

  /**
   * Waits for the request's work at most deadlineMs. A MySQL that accepted the connection and then went
   * silent never fails a query, so without this the request would wait for ever. An export already
   * streaming is not cut: a large one may rightly take longer. Past the deadline the work goes on (a
   * promise cannot be cancelled) and its late answer is dropped (respond.ts); how it ended is logged.
   */
  async function withinDeadline(work: Promise<void>, res: http.ServerResponse, route: string): Promise<void> {
    try {
      await withTimeout(work, o.deadlineMs, () => new DeadlineError(route, o.deadlineMs));
    } catch (err) {
      if (!(err instanceof DeadlineError)) throw err;
      if (res.headersSent) return work;
      work.then(
        () => o.log.info({ route }, 'admin request finished after its deadline; it was answered 503'),
        (late: unknown) => reportFailure(o, 'admin', late, 'admin request failed after its deadline; it was answered 503', { route }),
      );
      throw err;
    }
  }

  async function dispatch(req: http.IncomingMessage, res: http.ServerResponse, url: URL, sid: string, what: string) {
    const route = `${req.method} ${what}`;
    const allowed: Record<string, string[]> = {
      account: ['DELETE'], cdrs: ['GET', 'DELETE'], registrations: ['GET', 'DELETE'], 'cdr-opt-out': ['PUT'],
    };
    if (!allowed[what]!.includes(req.method ?? '')) {
      return sendError(res, 405, 'method_not_allowed', `${req.method} is not allowed here`, { allow: allowed[what]!.join(', ') });
    }
    if (!(await o.service.accountExists(sid))) return sendError(res, 404, 'account_not_found', 'no account with that account_sid');
    if (res.headersSent) return; // answered 503 at its deadline meanwhile
    const s = o.service;
    switch (route) {
      case 'GET cdrs': {
        const q = exportQuery(url);
        res.writeHead(200, {
          'content-type': q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
          'content-disposition': `attachment; filename="cdrs-${sid}.${q.format === 'csv' ? 'csv' : 'ndjson'}"`,
        });
        return s.exportCdrs(sid, q, res);
      }
      case 'DELETE cdrs': {
        const number = url.searchParams.get('number');
        if (number !== null && !NUMBER.test(number)) throw new BadRequest('number must be 1-64 characters of A-Z a-z 0-9 + * # . _ -');
        return sendJson(res, 200, { erased: await (number === null ? s.eraseCdrs(sid) : s.eraseCdrsOfNumber(sid, number)) });
      }
      case 'GET registrations':
        return sendJson(res, 200, { registrations: await s.listRegistrations(sid) });
      case 'DELETE registrations':
        return sendJson(res, 200, { erased: await s.eraseRegistrations(sid) });
      case 'PUT cdr-opt-out': {
        const raw = await readBody(req, 1024);
        if (raw === null) throw new BadRequest('body too large');
        let body: unknown;
        try { body = JSON.parse(raw); } catch { throw new BadRequest('body must be JSON: {"disable_cdrs": true|false}'); }
        const keys = body && typeof body === 'object' ? Object.keys(body) : [];
        const value = (body as { disable_cdrs?: unknown } | null)?.disable_cdrs;
        if (typeof value !== 'boolean' || keys.length !== 1) throw new BadRequest('body must be {"disable_cdrs": true|false}');
        await s.setOptOut(sid, value);
        return sendJson(res, 200, { account_sid: sid, disable_cdrs: value });
      }
      case 'DELETE account':
        return sendJson(res, 200, { erased: await s.closeAccount(sid) });
    }
  }

  function exportQuery(url: URL): { since: Date; until: Date; format: ExportFormat } {
    for (const k of url.searchParams.keys()) if (!['since', 'until', 'format'].includes(k)) throw new BadRequest(`unknown parameter "${k}"`);
    const format = url.searchParams.get('format') ?? 'ndjson';
    if (format !== 'ndjson' && format !== 'csv') throw new BadRequest('format must be ndjson or csv');
    const until = date(url.searchParams.get('until'), 'until') ?? new Date(now());
    const since = date(url.searchParams.get('since'), 'since') ?? new Date(until.getTime() - MAX_RANGE_DAYS * DAY_MS);
    if (since >= until) throw new BadRequest('since must be before until');
    if (until.getTime() - since.getTime() > MAX_RANGE_DAYS * DAY_MS) throw new BadRequest(`the range may not exceed ${MAX_RANGE_DAYS} days`);
    return { since, until, format };
  }
}

function date(v: string | null, name: string): Date | null {
  if (v === null) return null;
  // A bare date or a time without zone means UTC, as every timestamp the daemon stores.
  const iso = /[zZ]|[+-]\d{2}:?\d{2}$/.test(v) || v.length === 10 ? v : `${v}Z`;
  const d = new Date(iso.replace(' ', 'T'));
  if (!DATE.test(v) || Number.isNaN(d.getTime())) throw new BadRequest(`${name} must be an ISO 8601 date or date-time, e.g. 2026-11-01 or 2026-11-01T12:00:00Z`);
  return d;
}
