// The test UA's transport over real sockets: SIP requests to a real drachtio-server over UDP or TCP on
// loopback, each answered by its final response (matched on Call-ID and CSeq), and requests the server
// sends to the device (an INVITE to a registered phone), answered by `answer`. Feeds test/helpers/ua.ts.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import net from 'node:net';
import { parseSipResponse, requestMethod, splitSipMessage, findHeader, type SipParts, type SipResponse } from '../peer/sip.js';

/** A request the server sent to this device. */
export interface InboundSipRequest { method: string; uri: string; parts: SipParts; raw: string }

export interface SipSocket {
  /** The local address and port every request leaves from (what the server sees as the source). */
  readonly address: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp';
  /** Sends a request and resolves with its final (≥ 200) response; rejects after `timeoutMs` saying what it sent. */
  request(raw: string, timeoutMs?: number): Promise<SipResponse>;
  /** Sends bytes as they are, expecting nothing. */
  sendRaw(data: string | Buffer): void;
  /** Every response received so far, provisional ones too. */
  readonly received: SipResponse[];
  /** Every request the server sent here so far. */
  readonly requests: InboundSipRequest[];
  /** How this device answers requests from the server: the raw responses to send back (none by default). */
  answer(handler: (req: InboundSipRequest) => string[]): void;
  /** Resolves with the first request (past or future) that `match` accepts; rejects after `timeoutMs` saying what it waited for. */
  waitForRequest(match: (req: InboundSipRequest) => boolean, what: string, timeoutMs?: number): Promise<InboundSipRequest>;
  close(): Promise<void>;
}

interface Waiter { key: string; resolve(r: SipResponse): void }

const keyOf = (callId: string | undefined, cseq: string | undefined) => `${callId ?? ''}\n${(cseq ?? '').replace(/\s+/g, ' ').trim()}`;

/** Opens a socket from `address` (any 127.x.y.z: each is a distinct source to the server) to the server's SIP port. */
export async function openSipSocket(o: { serverPort: number; transport?: 'udp' | 'tcp'; address?: string }): Promise<SipSocket> {
  const address = o.address ?? '127.0.0.1';
  const transport = o.transport ?? 'udp';
  const received: SipResponse[] = [];
  const requests: InboundSipRequest[] = [];
  const waiters: Waiter[] = [];
  const requestWaiters: { match: (r: InboundSipRequest) => boolean; resolve(r: InboundSipRequest): void }[] = [];
  let answer: (req: InboundSipRequest) => string[] = () => [];
  const onMessage = (text: string, reply: (data: string) => void) => {
    if (!text.startsWith('SIP/2.0')) {
      let req: InboundSipRequest;
      try {
        const parts = splitSipMessage(text);
        req = { method: requestMethod(parts), uri: parts.startLine.split(/\s+/)[1] ?? '', parts, raw: text };
      } catch {
        return; // noise
      }
      requests.push(req);
      for (const w of requestWaiters.filter((x) => x.match(req))) {
        requestWaiters.splice(requestWaiters.indexOf(w), 1);
        w.resolve(req);
      }
      for (const r of answer(req)) reply(r);
      return;
    }
    let res: SipResponse;
    try {
      res = parseSipResponse(text);
    } catch {
      return; // a request from the server (none expected here) or noise
    }
    received.push(res);
    if (res.status < 200) return;
    const key = keyOf(res.headers['call-id'], res.headers.cseq);
    const i = waiters.findIndex((w) => w.key === key);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(res);
  };

  let write: (data: string | Buffer) => void;
  let close: () => Promise<void>;
  let port: number;
  if (transport === 'udp') {
    const sock: UdpSocket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => { sock.once('error', reject); sock.bind(0, address, () => resolve()); });
    sock.on('message', (m, rinfo) => onMessage(m.toString('utf8'), (data) => sock.send(Buffer.from(data), rinfo.port, rinfo.address)));
    port = sock.address().port;
    write = (data) => sock.send(typeof data === 'string' ? Buffer.from(data) : data, o.serverPort, '127.0.0.1');
    close = () => new Promise((r) => sock.close(() => r()));
  } else {
    const sock = net.connect({ port: o.serverPort, host: '127.0.0.1', localAddress: address });
    await new Promise<void>((resolve, reject) => { sock.once('error', reject); sock.once('connect', () => resolve()); });
    let buf = '';
    sock.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      // A stream carries messages back to back: each ends after its headers and Content-Length bytes.
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/^content-length:\s*(\d+)/im.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        onMessage(buf.slice(0, end + 4 + length), (data) => sock.write(data));
        buf = buf.slice(end + 4 + length);
      }
    });
    sock.on('error', () => undefined); // the tests see a closed server as requests that time out
    port = sock.localPort!;
    write = (data) => sock.write(data);
    close = () => new Promise((r) => { sock.once('close', () => r()); sock.end(); setTimeout(() => sock.destroy(), 500).unref(); });
  }

  return {
    address, port, transport, received, requests,
    answer(handler) { answer = handler; },
    waitForRequest(match, what, timeoutMs = 5000) {
      const seen = requests.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = requestWaiters.indexOf(w);
          if (i >= 0) requestWaiters.splice(i, 1);
          reject(new Error(`no ${what} reached ${transport} ${address}:${port} within ${timeoutMs} ms (requests seen: ${requests.map((r) => r.method).join(', ') || 'none'})`));
        }, timeoutMs);
        const w = { match, resolve: (r: InboundSipRequest) => { clearTimeout(timer); resolve(r); } };
        requestWaiters.push(w);
      });
    },
    request(raw, timeoutMs = 5000) {
      const parts = splitSipMessage(raw);
      const key = keyOf(findHeader(parts, 'Call-ID'), findHeader(parts, 'CSeq'));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`no final response within ${timeoutMs} ms over ${transport} to 127.0.0.1:${o.serverPort} for:\n${parts.startLine} (CSeq ${findHeader(parts, 'CSeq')})`));
        }, timeoutMs);
        const w: Waiter = { key, resolve: (r) => { clearTimeout(timer); resolve(r); } };
        waiters.push(w);
        write(raw);
      });
    },
    sendRaw: (data) => write(data),
    close,
  };
}
