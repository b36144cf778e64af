// A customer's registration hook, played by a real HTTP server on loopback: it records every request,
// checks the Jambonz-Signature and digest the way a customer would (code of its own, sharing nothing
// with lib/), and answers as the test tells it.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pool } from 'mysql2/promise';

export interface HookCall {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The digest parameters and origin: the JSON body, or a GET's query string. */
  params: Record<string, unknown>;
}

export interface HookReply { status?: number; body?: string; headers?: Record<string, string>; delayMs?: number }

export interface HookServer {
  readonly url: string;
  readonly calls: HookCall[];
  /** How the hook answers from now on. */
  behave(fn: (call: HookCall) => HookReply): void;
  close(): Promise<void>;
}

export async function startHookServer(): Promise<HookServer> {
  const calls: HookCall[] = [];
  let behave: (call: HookCall) => HookReply = () => ({ status: 500 });
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://hook');
      const body = Buffer.concat(chunks).toString('utf8');
      let params: Record<string, unknown> = Object.fromEntries(url.searchParams);
      if (req.method === 'POST') try { params = JSON.parse(body) as Record<string, unknown>; } catch { params = {}; }
      const call: HookCall = { method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body, params };
      calls.push(call);
      const r = behave(call);
      const send = () => {
        res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...r.headers });
        res.end(r.body ?? '');
      };
      if (r.delayMs) {
        const timer = setTimeout(() => { timers.delete(timer); send(); }, r.delayMs);
        timers.add(timer);
      } else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    behave(fn) { behave = fn; },
    close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Gives an account a registration hook (migration 0004's columns). */
export async function setHook(pool: Pool, accountSid: string, h: {
  url: string | null; method?: 'POST' | 'GET'; username?: string | null; password?: string | null; secret?: string | null;
}): Promise<void> {
  await pool.query(
    `UPDATE accounts SET registration_hook_url = ?, registration_hook_method = ?, registration_hook_username = ?,
       registration_hook_password = ?, webhook_secret = ? WHERE account_sid = ?`,
    [h.url, h.method ?? 'POST', h.username ?? null, h.password ?? null, h.secret ?? null, accountSid],
  );
}

/** What a customer's verifier does with `Jambonz-Signature: t=…,v1=…`: HMAC-SHA256 of "t.payload" under its secret. */
export function signatureValid(header: string | undefined, payload: string, secret: string, nowSeconds = Date.now() / 1000, toleranceSeconds = 300): boolean {
  const parts = Object.fromEntries((header ?? '').split(',').map((p) => p.split('=') as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1 || Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${payload}`).digest('hex'));
  const given = Buffer.from(parts.v1);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether the digest parameters a hook was sent are right for `password` (RFC 2617 / 7616, qop=auth). */
export function digestValid(p: Record<string, unknown>, password: string): boolean {
  const H = (s: string) => createHash(p.algorithm === 'SHA-256' ? 'sha256' : 'md5').update(s).digest('hex');
  const ha1 = H(`${p.username}:${p.realm}:${password}`);
  const ha2 = H(`${p.method}:${p.uri}`);
  return p.response === H(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
}

/** A hook that admits `users` (name → password) whose digest is right, optionally capping the expiry. */
export function admitting(users: Record<string, string>, o: { expires?: number } = {}) {
  return (call: HookCall): HookReply => {
    const password = users[String(call.params.username)];
    const ok = password !== undefined && digestValid(call.params, password);
    return { body: JSON.stringify(ok ? { status: 'ok', ...(o.expires ? { expires: o.expires } : {}) } : { status: 'fail', message: 'bad credentials' }) };
  };
}
