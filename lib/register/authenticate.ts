// Digest authentication of a parsed REGISTER (RFC 3261 §22, RFC 8760), without state:
// the nonce proves itself, and the nonce-count is checked when the binding is stored. The response is
// verified against the clients table, or, for an account with a registration hook, by the hook.
import type { CredentialStore } from './credentials.js';
import { verifyResponse, type DigestAlgorithm } from './digest.js';
import type { HookClient, HookFailure } from './hook.js';
import { parseNonceCount, type NonceService } from './nonce.js';
import type { RegisterRequest } from './parse.js';
import type { RealmStore } from './realms.js';

export type AuthOutcome =
  /** `maxExpires`: the registration hook's cap on the grant, if it gave one. */
  | { kind: 'ok'; accountSid: string; nonce: string; nc: number; nonceTtlMs: number; maxExpires?: number }
  | { kind: 'challenge'; stale: boolean }
  /** Credentials were checked and are wrong: counts towards blocking the source; `blockSeconds`: the hook asked to block it. */
  | { kind: 'forbidden'; why: string; blockSeconds?: number }
  | { kind: 'invalid'; reason: string }
  /** `beforeLookup` said the source is blocked: MySQL was not asked. */
  | { kind: 'blocked' }
  /** The account's registration hook gave no usable answer: neither yes nor no (503). */
  | { kind: 'hook_failed'; reason: HookFailure; httpStatus?: number };

/** Where a REGISTER came from: the packet's source and transport. */
export interface Origin { address: string; port: number; transport: string }

export interface Authenticator {
  /**
   * `beforeLookup` runs before the credentials are read from MySQL (not when they are cached): a
   * source it reports blocked never makes the registrar query the database.
   */
  /** Nonces only verify from the address they were sent to (`from.address`). */
  authenticate(r: RegisterRequest, method: string, from: Origin, beforeLookup?: () => Promise<boolean>): Promise<AuthOutcome>;
  challenge(realm: string, stale: boolean, source: string): string[];
}

export function createAuthenticator(o: {
  credentials: CredentialStore; realms: RealmStore; hook: HookClient;
  nonces: NonceService; algorithms: readonly DigestAlgorithm[]; now?: () => number;
}): Authenticator {
  const now = o.now ?? Date.now;
  const offered: ReadonlySet<string> = new Set(o.algorithms);
  return {
    async authenticate(r, method, from, beforeLookup) {
      const c = r.credentials;
      if (!c) return { kind: 'challenge', stale: false };
      // RFC 8760: an algorithm we do not offer earns the challenge that lists the ones we do.
      if (!offered.has(c.algorithm)) return { kind: 'challenge', stale: false };
      const check = o.nonces.check(c.nonce, from.address);
      // A nonce we cannot verify (another secret, a restart with a random secret) earns a
      // fresh challenge rather than a refusal: the device did nothing wrong.
      if (check.state === 'invalid') return { kind: 'challenge', stale: false };
      if (check.state === 'stale') return { kind: 'challenge', stale: true };
      if (c.qop !== 'auth') return { kind: 'forbidden', why: 'qop' };
      if (c.realm.toLowerCase() !== r.domain) return { kind: 'forbidden', why: 'realm' };
      if (c.username !== r.user) return { kind: 'forbidden', why: 'username' };
      // The digest `uri` is not compared with the Request-URI: sipp puts the server's address there, and a
      // proxy or SBC in front may rewrite the Request-URI. The response covers the `uri` given, and the
      // realm, user, source-bound nonce and nonce-count already keep a digest from working elsewhere.
      const nc = parseNonceCount(c.nc ?? '');
      if (nc === null || nc === 0) return { kind: 'invalid', reason: 'Bad Nonce Count' };
      const nonceTtlMs = () => Math.max(1, check.issuedAt + o.nonces.lifetimeSeconds * 1000 - now());
      // A MySQL lookup not answered from a cache, and a call to a registration hook, is preceded by the
      // block check (once per REGISTER).
      let checked = false;
      const blockedBefore = async () => {
        if (checked || !beforeLookup) return false;
        checked = true;
        return beforeLookup();
      };

      let realm = o.realms.peek(r.domain);
      if (realm === undefined) {
        if (await blockedBefore()) return { kind: 'blocked' };
        realm = await o.realms.find(r.domain);
      }
      if (realm?.active && realm.hook) {
        // A blocked source's digest and address never reach the customer's hook.
        if (await blockedBefore()) return { kind: 'blocked' };
        const answer = await o.hook.call(realm.hook, {
          method, realm: c.realm, username: c.username, expires: r.contacts[0]?.expires ?? 0, nonce: c.nonce, uri: c.uri,
          response: c.response, cnonce: c.cnonce, qop: c.qop, nc: c.nc, algorithm: c.algorithm,
          source_address: from.address, source_port: from.port, transport: from.transport.toLowerCase(),
        });
        if (answer.kind === 'error') return { kind: 'hook_failed', reason: answer.reason, httpStatus: answer.httpStatus };
        if (answer.kind === 'fail') return { kind: 'forbidden', why: 'hook', blockSeconds: answer.blockSeconds ?? undefined };
        return { kind: 'ok', accountSid: realm.accountSid, nonce: c.nonce, nc, nonceTtlMs: nonceTtlMs(), maxExpires: answer.expires ?? undefined };
      }

      let cred = o.credentials.peek(r.domain, c.username);
      if (cred === undefined) {
        if (await blockedBefore()) return { kind: 'blocked' };
        cred = await o.credentials.find(r.domain, c.username);
      }
      if (!cred) return { kind: 'forbidden', why: 'unknown' };
      const ha1 = c.algorithm === 'SHA-256' ? cred.ha1Sha256 : cred.ha1Md5;
      const ok = verifyResponse({
        algorithm: c.algorithm as DigestAlgorithm, ha1, method, uri: c.uri, nonce: c.nonce,
        qop: c.qop, nc: c.nc, cnonce: c.cnonce, response: c.response,
      });
      if (!ok) return { kind: 'forbidden', why: 'password' };
      return { kind: 'ok', accountSid: cred.accountSid, nonce: c.nonce, nc, nonceTtlMs: nonceTtlMs() };
    },
    challenge(realm, stale, source) {
      const nonce = o.nonces.issue(source);
      const common = `realm="${realm}", nonce="${nonce}", qop="auth"${stale ? ', stale=true' : ''}`;
      // RFC 8760: one header per algorithm, in the configured order (REGISTER_DIGEST_ALGORITHMS).
      return o.algorithms.map((a) => `Digest ${common}, algorithm=${a}`);
    },
  };
}
