// HTTP Digest as used by SIP (RFC 3261 22.4): RFC 2617 with MD5, RFC 7616 / RFC 8760 with SHA-256.
// Only qop=auth and the RFC 2069 compatible no-qop form are supported; auth-int (which hashes
// the message body) and the "-sess" algorithms are not.
import { createHash, timingSafeEqual } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

export interface DigestInput {
  algorithm: DigestAlgorithm;
  ha1: string;
  method: string;
  uri: string;
  nonce: string;
  qop: string | null;
  nc: string | null;
  cnonce: string | null;
}

const NODE_HASH: Record<DigestAlgorithm, string> = { 'MD5': 'md5', 'SHA-256': 'sha256' };

export function isSupportedAlgorithm(a: string): a is DigestAlgorithm {
  return a === 'MD5' || a === 'SHA-256';
}

function h(algorithm: DigestAlgorithm, data: string): string {
  return createHash(NODE_HASH[algorithm]).update(data, 'utf8').digest('hex');
}

/** Lower-case hex of H(username:realm:password): what a credential store keeps instead of passwords. */
export function computeHa1(
  algorithm: DigestAlgorithm, username: string, realm: string, password: string,
): string {
  return h(algorithm, `${username}:${realm}:${password}`);
}

/** The response a client knowing HA1 should send. Throws on a qop we do not implement. */
export function expectedResponse(o: DigestInput): string {
  const ha2 = h(o.algorithm, `${o.method}:${o.uri}`);
  if (o.qop === null) return h(o.algorithm, `${o.ha1}:${o.nonce}:${ha2}`);
  if (o.qop !== 'auth' || o.nc === null || o.cnonce === null) {
    throw new Error(`unsupported digest qop ${JSON.stringify(o.qop)} or missing nc/cnonce`);
  }
  return h(o.algorithm, `${o.ha1}:${o.nonce}:${o.nc}:${o.cnonce}:${o.qop}:${ha2}`);
}

/** True when `response` is right for these inputs. Never throws; compares in constant time. */
export function verifyResponse(o: DigestInput & { response: string }): boolean {
  // Checked at run time too: values may come straight from the network via an untyped path.
  if (!isSupportedAlgorithm(o.algorithm) || typeof o.response !== 'string') return false;
  if (typeof o.ha1 !== 'string' || o.ha1 === '') return false; // e.g. a NULL column: never matches
  if (o.qop !== null && (o.qop !== 'auth' || o.nc === null || o.cnonce === null)) return false;
  // HA1 comes from storage; normalise its case so an upper-case hex column still works.
  const expected = Buffer.from(expectedResponse({ ...o, ha1: o.ha1.toLowerCase() }), 'utf8');
  const given = Buffer.from(o.response.toLowerCase(), 'utf8');
  // timingSafeEqual needs equal lengths; the expected length is public (it depends only on
  // the algorithm), so returning early on a length mismatch leaks nothing.
  return given.length === expected.length && timingSafeEqual(given, expected);
}
