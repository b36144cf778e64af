// What the peer's test files share: a peer and real drachtio-srf apps connected to it (stopped without
// srf's reconnect loop), and a bare TCP client that checks frames byte for byte.
import type { Test } from 'tap';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { DrachtioPeer, type PeerOptions } from './drachtio-peer';
import { FrameDecoder, encodeFrame } from './framing';

// drachtio-srf's bundled typings are thin; the tests only need it untyped.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const Srf = require('drachtio-srf') as any; // eslint-disable-line @typescript-eslint/no-explicit-any
export type SrfApp = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export const TIME = /^\d\d:\d\d:\d\d\.\d{6}$/;
export const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

export async function startPeer(t: Test, opts: PeerOptions = {}): Promise<DrachtioPeer> {
  const peer = await DrachtioPeer.listen(opts);
  t.teardown(() => peer.close());
  return peer;
}

/** Connect a real srf app to the peer; `setup` registers its handlers first. */
export async function startApp(t: Test, peer: DrachtioPeer, setup: (srf: SrfApp) => void, opts: Record<string, unknown> = {}) {
  const srf = new Srf();
  srf.on('error', () => {}); // a dropped connection surfaces as ECONNRESET
  setup(srf);
  const connected = once(srf, 'connect');
  srf.connect({ host: '127.0.0.1', port: peer.port, secret: 'cymru', ...opts });
  const [err, hostport, version, localHostports] = await connected;
  t.teardown(() => stopApp(srf));
  return { srf, err, hostport, version, localHostports };
}

/** Disconnect without leaving srf's reconnect timer running. */
export function stopApp(srf: SrfApp): void {
  const wp = srf.app.client?.wp;
  if (!wp) return;
  wp.closing = true;
  clearTimeout(wp.reconnectVars?.retryTimer);
  try {
    srf.disconnect();
  } catch {
    // no live socket left
  }
}

/** A bare TCP client speaking frames, to check bytes exactly. */
export async function rawClient(t: Test, port: number) {
  const socket = createConnection(port, '127.0.0.1');
  await once(socket, 'connect');
  t.teardown(() => socket.destroy());
  const decoder = new FrameDecoder();
  const frames: string[] = [];
  const waiters: Array<(f: string) => void> = [];
  socket.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      const w = waiters.shift();
      if (w) w(f);
      else frames.push(f);
    }
  });
  return {
    socket,
    send: (body: string) => socket.write(encodeFrame(body)),
    next: () => new Promise<string>((resolve) => {
      const f = frames.shift();
      if (f !== undefined) resolve(f);
      else waiters.push(resolve);
    }),
  };
}
