// The REGISTER flow: parse → authenticate → check expiry → store the binding in Redis → answer,
// refusing a blocked source at whichever step first needs Redis or MySQL. Every path ends in
// exactly one response, one metric and, at info level, no address or user.
import type { Config } from '../../config/index.js';
import { errorKind, errorSummary, reportBug } from '../errors.js';
import type { Hasher, Logger } from '../log.js';
import type { Metrics, RegisterResult } from '../metrics.js';
import type { Authenticator } from './authenticate.js';
import type { Binding, BindingStore } from './bindings.js';
import type { AuthGuard } from './guard.js';
import { behindNat } from './nat.js';
import { parseRegister, type InboundRequest, type RegisterRequest } from './parse.js';

export interface OutboundResponse {
  send(status: number, reason: string, opts: { headers: Record<string, string> }): void;
}

export interface RegisterDeps {
  config: Config['register'];
  bindings: BindingStore;
  auth: Authenticator;
  guard: AuthGuard;
  metrics: Metrics;
  log: Logger;
  hash: Hasher;
  now?: () => number;
}

export interface RegisterHandler {
  (req: InboundRequest, res: OutboundResponse): Promise<void>;
  /** Shutdown: new REGISTERs get 503 from now on. */
  stopAccepting(): void;
  /** Resolves once no REGISTER is being handled. */
  idle(): Promise<void>;
}

const RETRY_AFTER = '5';

export function createRegisterHandler(d: RegisterDeps): RegisterHandler {
  let accepting = true;
  let inflight = 0;
  const idleWaiters: (() => void)[] = [];
  const handle = createFlow(d, () => accepting);
  const handler = (req: InboundRequest, res: OutboundResponse) => {
    inflight++;
    return handle(req, res).finally(() => {
      if (--inflight === 0) idleWaiters.splice(0).forEach((w) => w());
    });
  };
  return Object.assign(handler, {
    stopAccepting() { accepting = false; },
    idle: () => (inflight === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r))),
  });
}

function createFlow(d: RegisterDeps, accepting: () => boolean) {
  const now = d.now ?? Date.now;

  return async function onRegister(req: InboundRequest, res: OutboundResponse): Promise<void> {
    const end = d.metrics.registerDuration.startTimer();
    const reply = (result: RegisterResult, status: number, reason: string, headers: Record<string, string> = {}) => {
      res.send(status, reason, { headers });
      d.metrics.registerRequests.inc({ result });
      end();
    };
    try {
      if (!accepting()) return reply('unavailable', 503, 'Shutting Down', { 'Retry-After': RETRY_AFTER });
      const parsed = parseRegister(req, d.config);
      if (!parsed.ok) {
        d.log.info({ result: 'invalid', reason: parsed.reason }, 'REGISTER rejected');
        return reply('invalid', 400, parsed.reason);
      }
      const r = parsed.value;
      const source = req.source_address;
      // A blocked source gets 403 for whatever carries credentials, right or wrong, so guessing gains nothing.
      // Where the outcome is decided by a Redis script anyway (storing a binding, counting a failure) that
      // script checks the block, in the same round trip; the other outcomes after the nonce (400, 423), a
      // MySQL credential lookup and a hook call are preceded by an explicit check. A challenge is not: it
      // says nothing about the password and costs no lookup, and checking would be a Redis round trip on
      // the first half of every fresh registration.
      const blocked = () => {
        d.log.info({ result: 'blocked', source: d.hash(source) }, 'REGISTER refused: source blocked after repeated failures');
        return reply('blocked', 403, 'Forbidden');
      };
      const isBlocked = () => d.guard.isBlocked(source);

      const auth = await d.auth.authenticate(r, req.method, { address: source, port: Number(req.source_port), transport: String(req.protocol) }, isBlocked);
      if (auth.kind === 'blocked') return blocked();
      if (auth.kind === 'hook_failed') {
        // The customer's hook said neither yes nor no: the device should come back, not give up.
        d.log.warn({ result: 'unavailable', reason: auth.reason, httpStatus: auth.httpStatus }, 'REGISTER answered 503: the registration hook gave no usable answer');
        return reply('unavailable', 503, 'Service Unavailable', { 'Retry-After': RETRY_AFTER });
      }
      if (auth.kind === 'invalid') {
        if (await isBlocked()) return blocked();
        d.log.info({ result: 'invalid', reason: auth.reason }, 'REGISTER rejected');
        return reply('invalid', 400, auth.reason);
      }
      if (auth.kind === 'challenge') {
        return reply(auth.stale ? 'stale' : 'challenged', 401, 'Unauthorized', challengeHeaders(d.auth.challenge(r.domain, auth.stale, source)));
      }
      if (auth.kind === 'forbidden') {
        const failure = auth.blockSeconds ? await d.guard.block(source, auth.blockSeconds) : await d.guard.recordFailure(source);
        if (failure === 'blocked') return blocked();
        d.metrics.authFailures.inc();
        if (failure === 'block_started') d.metrics.sourcesBlocked.inc();
        d.log.info({ result: 'forbidden', why: auth.why, user: d.hash(r.user), source: d.hash(source), blocked: failure === 'block_started' }, 'REGISTER authentication failed');
        return reply('forbidden', 403, 'Forbidden');
      }

      const tooBrief = r.contacts.find((c) => c.expires !== 0 && c.expires < d.config.minExpires);
      if (tooBrief) {
        if (await isBlocked()) return blocked();
        d.log.info({ result: 'too_brief', requested: tooBrief.expires, min: d.config.minExpires }, 'REGISTER rejected: interval too brief');
        return reply('too_brief', 423, 'Interval Too Brief', { 'Min-Expires': String(d.config.minExpires) });
      }

      const t = now();
      const changes = r.contacts.map((c) => {
        const nat = c.expires > 0 && behindNat(c.uri, source, String(req.protocol));
        // A NAT pinhole lasts less than a registration: the device must refresh before it closes.
        const natCap = nat && d.config.natExpires > 0 ? d.config.natExpires : Infinity;
        const ttlMs = Math.min(c.expires, d.config.maxExpires, natCap, auth.maxExpires ?? Infinity) * 1000;
        return { contact: c.uri, ttlMs, binding: ttlMs === 0 ? null : toBinding(c.uri, r, req, auth.accountSid, t, ttlMs, nat) };
      });
      const stored = await d.bindings.store({
        accountSid: auth.accountSid, user: r.user, nonce: auth.nonce, nc: auth.nc, nonceTtlMs: auth.nonceTtlMs,
        removeAll: r.removeAll, changes, now: t, blockKey: d.guard.blockKey(source), callId: r.callId, cseq: r.cseq,
      });
      if (!stored.ok && stored.reason === 'blocked') return blocked();
      if (!stored.ok && stored.reason === 'out_of_order') {
        d.log.info({ result: 'invalid', user: d.hash(r.user) }, 'REGISTER refused: CSeq not above that of a binding it made');
        return reply('invalid', 400, 'CSeq Out Of Order');
      }
      if (!stored.ok) {
        d.log.info({ result: 'replayed', user: d.hash(r.user) }, 'REGISTER refused: nonce-count replayed');
        return reply('replayed', 401, 'Unauthorized', challengeHeaders(d.auth.challenge(r.domain, true, source)));
      }
      const headers: Record<string, string> = {};
      if (stored.bindings.length > 0) {
        headers.Contact = stored.bindings
          .map((b) => `<${b.contact}>;expires=${Math.max(1, Math.ceil((b.expiresAt - t) / 1000))}`).join(', ');
      }
      const removedOnly = changes.every((c) => c.ttlMs === 0);
      // The keyed hash is an HMAC: not worth computing for a line that is not written.
      if (d.log.isLevelEnabled('debug')) d.log.debug({ user: d.hash(r.user), contacts: stored.bindings.length }, 'REGISTER stored');
      return reply(removedOnly ? 'removed' : 'ok', 200, 'OK', headers);
    } catch (err) {
      // Never a 200 for a binding that was not stored. A store that failed is worth a retry (503);
      // anything else is a bug, and the device is told so (500) rather than to come back.
      if (errorKind(err) === 'bug') {
        reportBug(d, 'register', err, 'REGISTER failed: internal error');
        return reply('error', 500, 'Server Internal Error');
      }
      d.log.error({ err: errorSummary(err) }, 'REGISTER failed: store unavailable');
      return reply('unavailable', 503, 'Service Unavailable', { 'Retry-After': RETRY_AFTER });
    }
  };
}

function toBinding(contact: string, r: RegisterRequest, req: InboundRequest, accountSid: string, t: number, ttlMs: number, behindNat: boolean): Binding {
  return {
    contact,
    sourceAddress: req.source_address,
    sourcePort: Number(req.source_port),
    transport: String(req.protocol),
    userAgent: r.userAgent,
    accountSid,
    aor: r.aor,
    registeredAt: t,
    expiresAt: t + ttlMs,
    callId: r.callId,
    cseq: r.cseq,
    behindNat,
  };
}

/**
 * drachtio-srf writes one header line per key, so the second challenge rides on the
 * first as its own line: two WWW-Authenticate headers, as RFC 8760 asks, not one
 * comma-joined value that RFC 3261 parsers reject.
 */
function challengeHeaders(challenges: string[]): Record<string, string> {
  return { 'WWW-Authenticate': challenges.join('\r\nWWW-Authenticate: ') };
}
