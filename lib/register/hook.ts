// An account's registration hook, as jambonz calls it: the customer's own HTTP service decides whether a
// digest response is right (it holds the passwords; we never see them). One request per authenticated
// REGISTER, never cached (README: "Registration hook"), signed like every jambonz webhook:
//   Jambonz-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(webhook_secret, "<t>.<body>")>
// Anything but a well-formed 2xx answer within REGISTRATION_HOOK_TIMEOUT_MS — a timeout, a refused
// connection, another status, a redirect (never followed), a body that is not the documented JSON — is
// a failure the REGISTER flow answers with 503: never a 200 the customer did not give.
import { createHmac } from 'node:crypto';
import { POLICY_MAX_IP_RETENTION_SECONDS } from '../../config/index.js';
import type { HookResult, Metrics } from '../metrics.js';
import type { RegistrationHook } from './realms.js';

export type HookFailure = Exclude<HookResult, 'ok' | 'fail'>;

export type HookAnswer =
  /** `expires`: the most the customer grants, or null to grant what was asked. */
  | { kind: 'ok'; expires: number | null }
  /** `blockSeconds`: refuse the source address for this long (the answer's `blacklist`), or null. */
  | { kind: 'fail'; blockSeconds: number | null }
  | { kind: 'error'; reason: HookFailure; httpStatus?: number };

/** What the hook is sent: the Authorization header's digest parameters, the request's expiry, and where it came from. */
export interface HookRequest {
  method: string; realm: string; username: string; expires: number; nonce: string; uri: string; response: string;
  cnonce: string | null; qop: string | null; nc: string | null; algorithm: string;
  source_address: string; source_port: number; transport: string;
}

export interface HookClient {
  call(hook: RegistrationHook, request: HookRequest): Promise<HookAnswer>;
}

export const SIGNATURE_HEADER = 'Jambonz-Signature';
const MAX_ANSWER_BYTES = 16 * 1024;

/** The Jambonz-Signature value for `payload` (the body, or a GET's query string) sent at `timestamp` (unix seconds). */
export function signature(secret: string, timestamp: number, payload: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex')}`;
}

export function createHookClient(o: {
  timeoutMs: number;
  /** What `"blacklist": true` blocks for (AUTH_BLOCK_SECONDS). */
  blockSeconds: number;
  metrics: Metrics;
  now?: () => number;
}): HookClient {
  const now = o.now ?? Date.now;
  return {
    async call(hook, request) {
      const end = o.metrics.hookDuration.startTimer();
      const answer = await ask(hook, request);
      end();
      o.metrics.hookRequests.inc({ result: answer.kind === 'error' ? answer.reason : answer.kind });
      return answer;
    },
  };

  async function ask(hook: RegistrationHook, request: HookRequest): Promise<HookAnswer> {
    const url = new URL(hook.url);
    const headers: Record<string, string> = { 'user-agent': 'sip-data-sidecar', accept: 'application/json' };
    let payload: string;
    if (hook.method === 'GET') {
      for (const [k, v] of Object.entries(request)) if (v !== null) url.searchParams.set(k, String(v));
      payload = url.search.slice(1);
    } else {
      payload = JSON.stringify(request);
      headers['content-type'] = 'application/json';
    }
    if (hook.secret) headers[SIGNATURE_HEADER.toLowerCase()] = signature(hook.secret, Math.floor(now() / 1000), payload);
    if (hook.username && hook.password) {
      headers.authorization = `Basic ${Buffer.from(`${hook.username}:${hook.password}`).toString('base64')}`;
    }
    // One deadline for the connection, the headers and the body.
    const signal = AbortSignal.timeout(o.timeoutMs);
    try {
      const res = await fetch(url, { method: hook.method, headers, body: hook.method === 'GET' ? undefined : payload, redirect: 'manual', signal });
      if (res.status >= 300 && res.status < 400) return discard(res, { kind: 'error', reason: 'redirect', httpStatus: res.status });
      if (res.status < 200 || res.status >= 300) return discard(res, { kind: 'error', reason: 'http_error', httpStatus: res.status });
      const text = await readCapped(res);
      return text === null ? { kind: 'error', reason: 'invalid_response' } : judge(text);
    } catch {
      // Refused, reset, a name that does not resolve: the hook cannot be reached.
      return { kind: 'error', reason: signal.aborted ? 'timeout' : 'unreachable' };
    }
  }

  /** The documented answer, or invalid_response: `{"status": "ok"|"fail", "expires"?: n ≥ 1, "blacklist"?: bool | seconds}`. */
  function judge(text: string): HookAnswer {
    let body: unknown;
    try { body = JSON.parse(text); } catch { return { kind: 'error', reason: 'invalid_response' }; }
    if (!body || typeof body !== 'object' || Array.isArray(body)) return { kind: 'error', reason: 'invalid_response' };
    const { status, expires, blacklist } = body as Record<string, unknown>;
    const block = blockFor(blacklist);
    if (block === undefined) return { kind: 'error', reason: 'invalid_response' };
    if (status === 'fail') return { kind: 'fail', blockSeconds: block };
    // Admitting and blocking at once is no answer at all.
    if (status !== 'ok' || block !== null) return { kind: 'error', reason: 'invalid_response' };
    if (expires === undefined || expires === null) return { kind: 'ok', expires: null };
    if (typeof expires !== 'number' || !Number.isFinite(expires) || expires < 1) return { kind: 'error', reason: 'invalid_response' };
    return { kind: 'ok', expires: Math.floor(expires) };
  }

  /** jambonz's `blacklist` is seconds (0: for ever); the issue's is a flag. A block never outlives the policy hour. */
  function blockFor(v: unknown): number | null | undefined {
    if (v === undefined || v === null || v === false) return null;
    if (v === true) return o.blockSeconds;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return undefined;
    return v === 0 ? POLICY_MAX_IP_RETENTION_SECONDS : Math.min(Math.max(1, Math.ceil(v)), POLICY_MAX_IP_RETENTION_SECONDS);
  }
}

/** The body as text, or null past MAX_ANSWER_BYTES. */
async function readCapped(res: Response): Promise<string | null> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await res.body.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Frees the connection of an answer we will not read. */
async function discard(res: Response, answer: HookAnswer): Promise<HookAnswer> {
  await res.body?.cancel().catch(() => undefined);
  return answer;
}
