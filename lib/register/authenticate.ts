// Digest authentication of a parsed REGISTER (RFC 3261 §22, RFC 8760), without state:
// the nonce proves itself, and the nonce-count is checked when the binding is stored.
import type { CredentialStore } from './credentials.js';
import { verifyResponse, type DigestAlgorithm } from './digest.js';
import { parseNonceCount, type NonceService } from './nonce.js';
import type { RegisterRequest } from './parse.js';

export type AuthOutcome =
  | { kind: 'ok'; accountSid: string; nonce: string; nc: number; nonceTtlMs: number }
  | { kind: 'challenge'; stale: boolean }
  /** Credentials were checked and are wrong: counts towards blocking the source. */
  | { kind: 'forbidden'; why: string }
  | { kind: 'invalid'; reason: string }
  /** `beforeLookup` said the source is blocked: MySQL was not asked. */
  | { kind: 'blocked' };

export interface Authenticator {
  /**
   * `beforeLookup` runs before the credentials are read from MySQL (not when they are cached): a
   * source it reports blocked never makes the registrar query the database.
   */
  /** `source`: the packet's source address; nonces only verify from the address they were sent to. */
  authenticate(r: RegisterRequest, method: string, source: string, beforeLookup?: () => Promise<boolean>): Promise<AuthOutcome>;
  challenge(realm: string, stale: boolean, source: string): string[];
}

export function createAuthenticator(o: {
  credentials: CredentialStore; nonces: NonceService; algorithms: readonly DigestAlgorithm[]; now?: () => number;
}): Authenticator {
  const now = o.now ?? Date.now;
  const offered: ReadonlySet<string> = new Set(o.algorithms);
  return {
    async authenticate(r, method, source, beforeLookup) {
      const c = r.credentials;
      if (!c) return { kind: 'challenge', stale: false };
      // RFC 8760: an algorithm we do not offer earns the challenge that lists the ones we do.
      if (!offered.has(c.algorithm)) return { kind: 'challenge', stale: false };
      const check = o.nonces.check(c.nonce, source);
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
      let cred = o.credentials.peek(r.domain, c.username);
      if (cred === undefined) {
        if (beforeLookup && await beforeLookup()) return { kind: 'blocked' };
        cred = await o.credentials.find(r.domain, c.username);
      }
      if (!cred) return { kind: 'forbidden', why: 'unknown' };
      const ha1 = c.algorithm === 'SHA-256' ? cred.ha1Sha256 : cred.ha1Md5;
      const ok = verifyResponse({
        algorithm: c.algorithm as DigestAlgorithm, ha1, method, uri: c.uri, nonce: c.nonce,
        qop: c.qop, nc: c.nc, cnonce: c.cnonce, response: c.response,
      });
      if (!ok) return { kind: 'forbidden', why: 'password' };
      const nonceTtlMs = Math.max(1, check.issuedAt + o.nonces.lifetimeSeconds * 1000 - now());
      return { kind: 'ok', accountSid: cred.accountSid, nonce: c.nonce, nc, nonceTtlMs };
    },
    challenge(realm, stale, source) {
      const nonce = o.nonces.issue(source);
      const common = `realm="${realm}", nonce="${nonce}", qop="auth"${stale ? ', stale=true' : ''}`;
      // RFC 8760: one header per algorithm, in the configured order (REGISTER_DIGEST_ALGORITHMS).
      return o.algorithms.map((a) => `Digest ${common}, algorithm=${a}`);
    },
  };
}
