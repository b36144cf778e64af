// The admin API's front: authentication (scoped tokens), route matching, the scope check, errors as
// JSON, and one access-log entry per request. The routes themselves (admin-routes.ts) stay thin
// calls into lib/privacy. Mounted only when an admin token is configured.
import type http from 'node:http';
import type { AdminScope } from '../../config/index.js';
import { BadInputError, DeadlineError, errorKind, errorSummary, reportBug, reportFailure } from '../errors.js';
import type { Hasher, Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { bareNumber } from '../privacy/holds.js';
import type { AccessLog } from './access-log.js';
import { missingScopes, type AdminAuth } from './auth.js';
import { withTimeout } from '../timeout.js';
import { sendError } from './respond.js';
import type { Route } from './server.js';

export const SID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const NUMBER = /^[A-Za-z0-9+*#._-]{1,64}$/;

/** What a route handler gets: the request, its path parameters, the token's name and a place for counts. */
export interface AdminContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  params: Record<string, string>;
  actor: string;
  /** Rows exported, erased, held…: recorded in the access log. */
  counts: Record<string, number> | null;
}

export interface AdminRouteDef {
  method: 'GET' | 'PUT' | 'DELETE';
  /** e.g. /v1/accounts/{sid}/cdrs — also what the access log records. */
  path: string;
  scopes(url: URL): readonly AdminScope[];
  handle(c: AdminContext): Promise<void>;
}

// Path parameters are checked before any handler sees them.
const PARAMS: Record<string, { re: RegExp; message: string; normalise?: (s: string) => string }> = {
  sid: { re: SID, message: 'account_sid must be a UUID', normalise: (s) => s.toLowerCase() },
  id: { re: SID, message: 'a legal hold id is a UUID', normalise: (s) => s.toLowerCase() },
  number: { re: NUMBER, message: 'number must be 1-64 characters of A-Z a-z 0-9 + * # . _ -' },
};

interface Compiled { def: AdminRouteDef; re: RegExp; names: string[] }

function compile(def: AdminRouteDef): Compiled {
  const names: string[] = [];
  const re = def.path.replace(/\{(\w+)\}/g, (_, name: string) => { names.push(name); return '([^/]+)'; });
  return { def, re: new RegExp(`^${re}/?$`), names };
}

export function createAdminRoute(o: {
  auth: AdminAuth; routes: readonly AdminRouteDef[]; accessLog: AccessLog; hash: Hasher; log: Logger; metrics: Metrics; now?: () => number;
  /** ADMIN_REQUEST_TIMEOUT_MS: a request still waiting on a store by then is answered 503. */
  deadlineMs: number;
}): Route {
  const now = o.now ?? Date.now;
  const routes = o.routes.map(compile);

  // A store that accepted the connection and went silent must not leave the request hanging; the work
  // goes on, and how it ends is logged. An answer already streaming (an export) is not cut.
  const withinDeadline = async (work: Promise<void>, res: http.ServerResponse, route: string): Promise<void> => {
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
  };

  return async (req, res, url) => {
    if (!url.pathname.startsWith('/v1/')) return false;
    const started = now();
    const method = /^[A-Z]{1,8}$/.test(req.method ?? '') ? req.method! : 'OTHER';
    const client = req.socket.remoteAddress ?? 'unknown';
    const entry = { route: '(no route)', actor: null as string | null, params: {} as Record<string, string>, counts: null as Record<string, number> | null };
    res.once('close', () => {
      const status = res.statusCode;
      o.metrics.adminRequests.inc({ status: String(status) });
      if (status >= 400) o.log.info({ method, route: entry.route, status }, 'admin request refused');
      const number = entry.params.number ?? url.searchParams.get('number');
      const holdId = entry.params.id ?? url.searchParams.get('hold');
      o.accessLog.record({
        at: new Date(started), tokenName: entry.actor, method, route: entry.route,
        subjectHash: entry.params.sid ? o.hash(entry.params.sid) : null,
        numberHash: number && NUMBER.test(number) ? o.hash(bareNumber(number)) : null,
        holdId: holdId && SID.test(holdId) ? holdId.toLowerCase() : null,
        status, counts: entry.counts, durationMs: Math.max(0, Math.round(now() - started)), clientHash: o.hash(`client:${client}`),
      });
    });

    // The route is known before authentication, so failures are recorded against it too.
    const matches = routes.map((r) => ({ r, m: r.re.exec(url.pathname) })).filter((x) => x.m !== null);
    if (matches.length) entry.route = matches[0]!.r.def.path;
    const auth = await o.auth.authenticate(req.headers.authorization, client);
    if (!auth.ok) {
      if (auth.status === 429) {
        sendError(res, 429, 'too_many_failures', 'too many failed authentications from this address; try again later', { 'retry-after': '60' });
      } else {
        sendError(res, 401, 'unauthorized', 'a valid "Authorization: Bearer <token>" header is required', { 'www-authenticate': 'Bearer' });
      }
      return true;
    }
    entry.actor = auth.token.name;
    // Never echo the path: it may name an account, a user or a number.
    if (matches.length === 0) { sendError(res, 404, 'not_found', 'no such route; see the README\'s "Admin API"'); return true; }
    const hit = matches.find((x) => x.r.def.method === method);
    if (!hit) {
      const allow = matches.map((x) => x.r.def.method).join(', ');
      sendError(res, 405, 'method_not_allowed', `${method} is not allowed here`, { allow });
      return true;
    }
    const { def, names } = hit.r;
    try {
      const params: Record<string, string> = {};
      names.forEach((name, i) => {
        const raw = decodeURIComponent(hit.m![i + 1]!);
        const p = PARAMS[name]!;
        if (!p.re.test(raw)) throw new BadInputError(p.message);
        params[name] = p.normalise ? p.normalise(raw) : raw;
      });
      entry.params = params;
      const missing = missingScopes(auth.token.scopes, def.scopes(url));
      if (missing.length) {
        res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({
          error: { code: 'forbidden', message: `the token "${auth.token.name}" lacks the scope "${missing[0]}" for ${def.method} ${def.path}`, scope: missing[0] },
        }));
        return true;
      }
      // Counts land on the entry as soon as a handler sets them: a stream cut short still has its own.
      const c: AdminContext = {
        req, res, url, params, actor: auth.token.name,
        get counts() { return entry.counts; },
        set counts(v) { entry.counts = v; },
      };
      await withinDeadline(def.handle(c), res, def.path);
    } catch (err) {
      const kind = err instanceof URIError ? 'bad_input' : errorKind(err);
      if (res.headersSent) {
        // A stream cut short (an export whose store failed): the client sees a truncated body.
        if (kind === 'bug') reportBug(o, 'admin', err, 'admin request failed mid-response', { route: entry.route });
        else o.log.error({ route: entry.route, err: errorSummary(err) }, 'admin response cut short: store unavailable');
        res.destroy();
      } else if (err instanceof URIError) {
        sendError(res, 400, 'bad_request', 'the path is not valid percent-encoding');
      } else if (kind === 'bad_input') {
        const e = err instanceof BadInputError ? err : null;
        sendError(res, e?.status ?? 400, e?.code ?? 'bad_request', (err as Error).message);
      } else if (kind === 'unavailable') {
        o.log.warn({ route: entry.route, err: errorSummary(err) }, err instanceof DeadlineError
          ? 'admin request answered 503: no answer from the stores within ADMIN_REQUEST_TIMEOUT_MS'
          : 'admin request answered 503: store unavailable');
        sendError(res, 503, 'unavailable', 'a store is unavailable; nothing was changed that a retry would not finish', { 'retry-after': '5' });
      } else {
        reportBug(o, 'admin', err, 'admin request failed', { route: entry.route });
        sendError(res, 500, 'internal', 'internal error');
      }
    }
    return true;
  };
}
