// One HTTP server for operators: liveness, readiness and metrics. Routes stay thin.
// HTTPS instead of HTTP when HTTPS_CERT_FILE / HTTPS_KEY_FILE are set (tls.ts).
import type http from 'node:http';
import { reportBug } from '../errors.js';
import type { Health } from '../health.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { bearerMatcher } from './bearer.js';
import { sendError, sendJson } from './respond.js';
import { createListener, type TlsFiles } from './tls.js';

export interface HttpServer {
  listen(host: string, port: number): Promise<number>;
  /** Readiness answers 503 from now on, so load balancers drain us first. */
  drain(): void;
  /** Reloads the HTTPS certificate and key (SIGHUP); true without HTTPS. */
  reloadTls(): Promise<boolean>;
  readonly tls: boolean;
  close(): Promise<void>;
}

export type Route = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<boolean> | boolean;

export function createHttpServer(o: {
  health: Health; metrics: Metrics; log: Logger; beforeScrape?: () => Promise<void>; routes?: Route[];
  tls?: TlsFiles | null;
  /** When set, /metrics needs "Authorization: Bearer <it>". */
  metricsToken?: string | null;
}): HttpServer {
  let draining = false;
  const json = sendJson;
  const metricsAuthorized = o.metricsToken ? bearerMatcher(o.metricsToken) : () => true;

  const listener = createListener((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // No path in the line: a path may name an account, a user or a number.
      reportBug(o, 'http', err, 'HTTP request failed', { method: req.method });
      if (!res.headersSent) sendError(res, 500, 'internal', 'internal error');
      else res.destroy();
    });
  }, o.tls ?? null, o);
  const server = listener.server;
  server.keepAliveTimeout = 5000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/healthz') return json(res, 200, { status: 'ok' });
    if (req.method === 'GET' && url.pathname === '/readyz') {
      const down = o.health.down();
      if (draining) return json(res, 503, { status: 'shutting down', down });
      return json(res, down.length ? 503 : 200, down.length ? { status: 'not ready', down } : { status: 'ready' });
    }
    if (req.method === 'GET' && url.pathname === '/metrics') {
      if (!metricsAuthorized(req.headers.authorization)) {
        return sendError(res, 401, 'unauthorized', 'a valid "Authorization: Bearer <METRICS_TOKEN>" header is required', { 'www-authenticate': 'Bearer' });
      }
      if (o.beforeScrape) {
        await o.beforeScrape().catch((err: Error) => o.log.warn({ err: err.message }, 'metrics refresh failed; serving last values'));
      }
      const body = await o.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': o.metrics.registry.contentType }).end(body);
      return;
    }
    for (const route of o.routes ?? []) if (await route(req, res, url)) return;
    sendError(res, 404, 'not_found', 'no such route');
  }

  return {
    listen: (host, port) => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve((server.address() as { port: number }).port);
      });
    }),
    drain() { draining = true; },
    reloadTls: () => listener.reload(),
    tls: listener.tls,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
  };
}
