// A TCP forwarder to a shared server (MariaDB, Redis) that a test can cut (every connection reset,
// new ones refused) and restore, so the daemon sees a real outage without the real server being touched.
import { createServer, connect, type Socket, type AddressInfo } from 'node:net';

export interface CutProxy {
  readonly port: number;
  /** A MYSQL_URL for `database` through the proxy. */
  mysqlUrl(database: string): string;
  /** A REDIS_URL through the proxy. */
  redisUrl(): string;
  cut(): void;
  /**
   * From the moment a client sends data containing `marker`, that connection's replies are held back
   * (the request reaches the server, its answer not the client) until cut() or restore().
   */
  holdRepliesAfter(marker: string): void;
  /** Connections refused while cut: each is one attempt of a client to come back. */
  readonly refused: number;
  /** Connections open now whose replies are held back (holdRepliesAfter). */
  readonly holding: number;
  restore(): void;
  close(): Promise<void>;
}

export async function startCutProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<CutProxy> {
  const sockets = new Set<Socket>();
  let up = true;
  let refused = 0;
  let marker: Buffer | null = null;
  const holds = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (!up) {
      refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    track(upstream);
    let holding = false;
    client.on('data', (c: Buffer) => {
      if (marker && c.includes(marker)) { holding = true; holds.add(client); }
      upstream.write(c);
    });
    upstream.on('data', (c: Buffer) => { if (!holding) client.write(c); });
    client.on('close', () => { holds.delete(client); upstream.destroy(); });
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    get refused() { return refused; },
    get holding() { return holds.size; },
    mysqlUrl: (database) => `mysql://root@127.0.0.1:${port}/${database}`,
    redisUrl: () => `redis://127.0.0.1:${port}`,
    cut() {
      up = false;
      marker = null;
      for (const s of sockets) s.resetAndDestroy();
    },
    holdRepliesAfter(m) { marker = Buffer.from(m); },
    restore() { up = true; marker = null; },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
