// A drachtio-srf client of the real drachtio-server in inbound mode, for the e2e test apps (the call
// app, the CDR recorder): connect with the test secret, and stop without srf's reconnect loop.
import Srf from 'drachtio-srf';
import { SECRET, type DrachtioServer } from './drachtio-server.js';

export interface SrfClient {
  srf: Srf;
  /** Resolves when connected (again, after a drachtio-server restart). */
  connected(timeoutMs?: number): Promise<void>;
  stop(): void;
}

/** `setup` registers the app's handlers (routes) before it connects. */
export async function connectSrf(drachtio: DrachtioServer, what: string, setup: (srf: Srf) => void): Promise<SrfClient> {
  const srf = new Srf();
  let isConnected = false;
  const waiters = new Set<() => void>();
  srf.on('connect', (err: Error | null) => {
    if (err) return;
    isConnected = true;
    for (const w of [...waiters]) w();
  });
  srf.on('error', () => { isConnected = false; }); // a killed drachtio-server: srf reconnects
  (srf as unknown as { on(e: 'close', fn: () => void): void }).on('close', () => { isConnected = false; });
  setup(srf);
  (srf.connect as (opts: object) => void)({
    host: '127.0.0.1', port: drachtio.adminPort, secret: SECRET, reconnect: { retryMaxDelay: 200 },
  });
  const client: SrfClient = {
    srf,
    connected(timeoutMs = 10_000) {
      if (isConnected) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const done = () => { clearTimeout(t); waiters.delete(done); resolve(); };
        const t = setTimeout(() => { waiters.delete(done); reject(new Error(`${what} did not connect to drachtio-server within ${timeoutMs} ms`)); }, timeoutMs);
        waiters.add(done);
      });
    },
    stop() {
      const wp = (srf as unknown as { app?: { client?: { wp?: { closing?: boolean; reconnectVars?: { retryTimer?: NodeJS.Timeout | null } } } } }).app?.client?.wp;
      if (wp) {
        wp.closing = true; // drachtio-srf would otherwise reconnect after disconnect()
        if (wp.reconnectVars?.retryTimer) clearTimeout(wp.reconnectVars.retryTimer);
      }
      if (isConnected) srf.disconnect();
      isConnected = false;
    },
  };
  await client.connected();
  return client;
}
