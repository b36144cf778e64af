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
  /** Connections refused while cut: each is one attempt of a client to come back. */
  readonly refused: number;
  restore(): void;
  close(): Promise<void>;
}

export async function startCutProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<CutProxy> {
  const sockets = new Set<Socket>();
  let up = true;
  let refused = 0;
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
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    get refused() { return refused; },
    mysqlUrl: (database) => `mysql://root@127.0.0.1:${port}/${database}`,
    redisUrl: () => `redis://127.0.0.1:${port}`,
    cut() {
      up = false;
      for (const s of sockets) s.resetAndDestroy();
    },
    restore() { up = true; },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
