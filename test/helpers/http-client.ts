// One HTTP(S) request with what fetch() cannot set: the local address it leaves from (to act as
// several clients on loopback), a CA to trust (a test's self-signed certificate), an agent (to reuse
// one connection; without one, every request opens its own). Resolves with the whole body.
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json<T = any>(): T;
  /** The server certificate's SHA-256 fingerprint, over HTTPS. */
  fingerprint: string | null;
}

export function request(url: string, o: {
  method?: string; token?: string | null; headers?: Record<string, string>; body?: string;
  localAddress?: string; ca?: string | Buffer | (string | Buffer)[]; agent?: http.Agent;
} = {}): Promise<Reply> {
  const u = new URL(url);
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(u, {
      method: o.method ?? 'GET', headers, localAddress: o.localAddress, ca: o.ca,
      // A new connection each time unless an agent is given: which certificate it sees is the server's current one.
      agent: o.agent ?? false,
    }, (res) => {
      const chunks: Buffer[] = [];
      const cert = u.protocol === 'https:' ? (res.socket as TLSSocket).getPeerCertificate() : null;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text), fingerprint: cert?.fingerprint256 ?? null });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}
