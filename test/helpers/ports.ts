// Free loopback ports for servers a test starts itself (a drachtio-server, Prometheus, sipp).
import { createSocket } from 'node:dgram';
import net from 'node:net';

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const udpFree = (port: number) => new Promise<boolean>((resolve) => {
  const s = createSocket('udp4');
  s.once('error', () => { s.close(); resolve(false); });
  s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
});

/** A port free on 127.0.0.1 over both TCP and UDP: SIP listens on one number for both. */
export async function freeSipPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    if (await udpFree(port)) return port;
  }
  throw new Error('no loopback port was free over both TCP and UDP in 20 tries');
}
