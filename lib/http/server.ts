// One HTTP server for operators: liveness, readiness and metrics. Routes stay thin.
import http from 'node:http';
import { reportBug } from '../errors.js';
import type { Health } from '../health.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { sendError, sendJson } from './respond.js';

export interface HttpServer {
  listen(host: string, port: number): Promise<number>;
  /** Readiness answers 503 from now on, so load balancers drain us first. */
  drain(): void;
  close(): Promise<void>;
}

export type Route = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<boolean> | boolean;

export function createHttpServer(o: { health: Health; metrics: Metrics; log: Logger; beforeScrape?: () => Promise<void>; routes?: Route[] }): HttpServer {
  let draining = false;
  const json = sendJson;

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // No path in the line: a path may name an account, a user or a number.
      reportBug(o, 'http', err, 'HTTP request failed', { method: req.method });
      if (!res.headersSent) sendError(res, 500, 'internal', 'internal error');
      else res.destroy();
    });
  });
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
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
  };
}
