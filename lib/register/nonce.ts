// Stateless digest nonces: a nonce carries its own issue time and an HMAC over it, so any
// registrar instance sharing the secret can verify a nonce another instance issued, and nothing
// has to be stored per challenge. Replay of (nonce, nc) is tracked elsewhere (it needs Redis).
//
// Wire format: base64url( issuedAtMs (8 bytes, BE) || random (8) || HMAC-SHA256(secret, first 16 || boundTo)[0..16) )
// `boundTo` (the source address the challenge went to) is in the MAC but not in the nonce: a nonce
// only verifies from where it was sent, so REGISTERs with a spoofed source address cannot use a
// nonce fetched elsewhere to make failures count against, and block, a real device's address.
// Base64url has no '"' or '\', so a nonce is safe inside a quoted-string in WWW-Authenticate.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type NonceCheck = { state: 'valid'; issuedAt: number } | { state: 'stale' } | { state: 'invalid' };

export interface NonceService {
  issue(boundTo?: string): string;
  check(nonce: string, boundTo?: string): NonceCheck;
  readonly lifetimeSeconds: number;
}

const BODY_BYTES = 16; // issue time + random
const MAC_BYTES = 16; // 128 bits of HMAC are plenty against forgery
// 32 bytes -> exactly 43 unpadded base64url characters. Checked before decoding, so garbage of
// any size is rejected without allocating anything proportional to it.
const NONCE_FORMAT = /^[A-Za-z0-9_-]{43}$/;
// Instances' clocks drift a little; beyond this, a nonce "from the future" is not ours.
const MAX_CLOCK_SKEW_MS = 5_000;

const INVALID: NonceCheck = { state: 'invalid' };
const STALE: NonceCheck = { state: 'stale' };

export function createNonceService(o: {
  secret: Buffer | string;
  lifetimeSeconds: number;
  now?: () => number; // ms since epoch; injectable for tests
}): NonceService {
  const secret = Buffer.from(o.secret); // a copy: later mutation of the caller's buffer can't affect us
  if (secret.length === 0) throw new Error('nonce secret must not be empty');
  if (!Number.isFinite(o.lifetimeSeconds) || o.lifetimeSeconds <= 0) {
    throw new RangeError(`nonce lifetimeSeconds must be a positive number, got ${o.lifetimeSeconds}`);
  }
  const lifetimeMs = o.lifetimeSeconds * 1000;
  const now = o.now ?? Date.now;
  const mac = (body: Buffer, boundTo: string): Buffer =>
    createHmac('sha256', secret).update(body).update(boundTo).digest().subarray(0, MAC_BYTES);

  return {
    lifetimeSeconds: o.lifetimeSeconds,

    issue(boundTo = ''): string {
      const body = Buffer.alloc(BODY_BYTES);
      body.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(now()))), 0);
      randomBytes(8).copy(body, 8);
      return Buffer.concat([body, mac(body, boundTo)]).toString('base64url');
    },

    check(nonce: string, boundTo = ''): NonceCheck {
      if (typeof nonce !== 'string' || !NONCE_FORMAT.test(nonce)) return INVALID;
      const raw = Buffer.from(nonce, 'base64url');
      // 43 chars carry 258 bits, so the last char has 2 spare bits: several spellings decode to
      // the same bytes. Accept only the one we issue, so a nonce has a single valid form.
      if (raw.length !== BODY_BYTES + MAC_BYTES || raw.toString('base64url') !== nonce) return INVALID;
      const body = raw.subarray(0, BODY_BYTES);
      if (!timingSafeEqual(raw.subarray(BODY_BYTES), mac(body, boundTo))) return INVALID;
      // Only trusted (MAC-verified) times get here, and we only ever write safe integers.
      const issuedAt = Number(body.readBigUInt64BE(0));
      const t = now();
      if (issuedAt > t + MAX_CLOCK_SKEW_MS) return INVALID;
      if (t - issuedAt > lifetimeMs) return STALE;
      return { state: 'valid', issuedAt };
    },
  };
}

/** A Digest nonce-count: exactly 8 hex digits (RFC 7616 3.4), as a number; otherwise null. */
export function parseNonceCount(nc: string): number | null {
  return typeof nc === 'string' && /^[0-9a-fA-F]{8}$/.test(nc) ? parseInt(nc, 16) : null;
}
