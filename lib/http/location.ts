// The location API for call-routing apps: GET /v1/locations/{aor}, POST /v1/locations:lookup.
// Its own token (LOCATION_TOKEN): a call app never holds the admin (erasure) token, the admin token
// does not open these routes, and this one opens nothing else. Unset: the routes answer 404.
import type http from 'node:http';
import { errorKind, errorSummary, reportBug, StoreUnavailableError } from '../errors.js';
import { MAX_BATCH, parseAor, type Aor, type LocationService } from '../location/service.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { bearerMatcher } from './bearer.js';
import { readBody, sendError, sendJson } from './respond.js';
import type { Route } from './server.js';

const ONE = /^\/v1\/locations\/([^/]+)$/;
const BATCH = '/v1/locations:lookup';
const MAX_BODY = 64 * 1024;
// A location is true now and only now: no cache between the app and us may keep it.
const FRESH = { 'cache-control': 'no-store' };

class BadRequest extends Error {}

export function createLocationRoute(o: { token: string | null; service: LocationService; log: Logger; metrics: Metrics }): Route {
  const authorized = o.token === null ? () => false : bearerMatcher(o.token);

  return async (req, res, url) => {
    const path = url.pathname;
    if (path !== BATCH && !path.startsWith('/v1/locations/')) return false;
    // Paths name users: logs get the route's shape only.
    const shape = `${req.method ?? '?'} ${path === BATCH ? BATCH : '/v1/locations/:aor'}`;
    const end = o.metrics.locationDuration.startTimer();
    res.on('finish', () => {
      end();
      o.metrics.locationRequests.inc({ status: String(res.statusCode) });
      if (res.statusCode >= 400) o.log.info({ route: shape, status: res.statusCode }, 'location request refused');
    });
    if (o.token === null) {
      sendError(res, 404, 'not_found', 'the location API is off: set LOCATION_TOKEN to enable it');
      return true;
    }
    if (!authorized(req.headers.authorization)) {
      sendError(res, 401, 'unauthorized', 'a valid "Authorization: Bearer <LOCATION_TOKEN>" header is required', { 'www-authenticate': 'Bearer' });
      return true;
    }
    try {
      if (path === BATCH) await batch(req, res);
      else await one(req, res, ONE.exec(path)?.[1]);
    } catch (err) {
      if (err instanceof BadRequest) {
        sendError(res, 400, 'bad_request', err.message);
      } else if (errorKind(err) === 'unavailable') {
        o.log.warn({ route: shape, err: errorSummary(err) }, 'location request answered 503: store unavailable');
        const store = err instanceof StoreUnavailableError ? err.store : 'a store';
        sendError(res, 503, 'unavailable', `${store} is unavailable; retry`, { 'retry-after': '5' });
      } else {
        reportBug(o, 'location', err, 'location request failed', { route: shape });
        sendError(res, 500, 'internal', 'internal error');
      }
    }
    return true;
  };

  async function one(req: http.IncomingMessage, res: http.ServerResponse, segment: string | undefined) {
    if (req.method !== 'GET') return sendError(res, 405, 'method_not_allowed', `${req.method} is not allowed here`, { allow: 'GET' });
    const aor = segment === undefined ? null : parseAor(decode(segment));
    if (!aor) throw new BadRequest('the path must be /v1/locations/{user@domain}, URL-encoded');
    const [found] = await o.service.lookup([aor]);
    if (found!.bindings.length === 0) {
      return sendError(res, 404, 'not_registered', 'no live registration for this address of record', FRESH);
    }
    sendJson(res, 200, found, FRESH);
  }

  async function batch(req: http.IncomingMessage, res: http.ServerResponse) {
    if (req.method !== 'POST') return sendError(res, 405, 'method_not_allowed', `${req.method} is not allowed here`, { allow: 'POST' });
    const raw = await readBody(req, MAX_BODY);
    if (raw === null) throw new BadRequest(`the body may not exceed ${MAX_BODY} bytes`);
    let body: unknown;
    try { body = JSON.parse(raw); } catch { throw new BadRequest('the body must be JSON: {"aors": ["user@domain", …]}'); }
    const list = (body as { aors?: unknown } | null)?.aors;
    if (!Array.isArray(list) || list.length === 0 || Object.keys(body as object).length !== 1) {
      throw new BadRequest('the body must be {"aors": ["user@domain", …]} with at least one AOR');
    }
    if (list.length > MAX_BATCH) throw new BadRequest(`at most ${MAX_BATCH} AORs per request (got ${list.length})`);
    const aors: Aor[] = list.map((s, i) => {
      const a = typeof s === 'string' ? parseAor(s) : null;
      if (!a) throw new BadRequest(`aors[${i}] is not user@domain`);
      return a;
    });
    sendJson(res, 200, { results: await o.service.lookup(aors) }, FRESH);
  }
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return ''; // a broken %-escape: not an AOR
  }
}
