// The built daemon (`node dist/app.js`, configured by its environment only) beside a real drachtio-server.
import { runApp, type AppProcess } from '../helpers/app-process.js';
import { poll, REDIS_URL, type Stores } from '../helpers/harness.js';
import { SECRET, type DrachtioServer } from './drachtio-server.js';

export interface E2eDaemon {
  app: AppProcess;
  url: string;
  /** GET a path of its HTTP server, as text. */
  get(path: string): Promise<{ status: number; body: string }>;
  stop(): Promise<number | null>;
}

/**
 * Starts the daemon connected to `drachtio` (inbound mode) and waits until /readyz says it is ready; with
 * `drachtio` null (outbound mode only) it waits until the daemon accepts drachtio-server's connections.
 */
export async function startE2eDaemon(stores: Stores, drachtio: DrachtioServer | DrachtioServer[] | null, env: Record<string, string> = {}): Promise<E2eDaemon> {
  const servers = drachtio === null ? [] : Array.isArray(drachtio) ? drachtio : [drachtio];
  const app = runApp({
    ...(servers.length > 1
      ? { DRACHTIO_SERVERS: servers.map((s) => `127.0.0.1:${s.adminPort}`).join(',') }
      : { DRACHTIO_HOST: '127.0.0.1', DRACHTIO_PORT: String(servers[0]?.adminPort ?? 1) }),
    DRACHTIO_SECRET: SECRET,
    DRACHTIO_RETRY_MAX_DELAY_MS: '200',
    REDIS_URL,
    REDIS_KEY_PREFIX: stores.prefix,
    MYSQL_URL: stores.mysqlUrl,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    NONCE_SECRET: 'e2e-nonce-secret',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...env,
  });
  const port = await app.httpPort();
  if (port === undefined) {
    await app.stop();
    throw new Error(`the daemon logged no HTTP port within 15 s; stderr: ${app.stderr.slice(-1000)}`);
  }
  const url = `http://127.0.0.1:${port}`;
  const get = async (path: string) => {
    const r = await fetch(url + path);
    return { status: r.status, body: await r.text() };
  };
  const ready = servers.length > 0
    ? await poll(async () => (await get('/readyz').catch(() => ({ status: 0, body: '' }))).status === 200, 15_000, 50)
    : await poll(() => app.lines.some((l) => l.msg === 'accepting outbound connections from drachtio-server'), 15_000, 50);
  if (!ready) {
    const last = await get('/readyz').catch((e: Error) => ({ status: 0, body: e.message }));
    await app.stop();
    throw new Error(`the daemon was not ready within 15 s: /readyz ${last.status} ${last.body}`);
  }
  return { app, url, get, stop: () => app.stop() };
}
