// Refuses, for a while, a source address that keeps failing authentication.
// Keys hold a keyed hash of the address, never the address, and live at most
// AUTH_BLOCK_SECONDS / AUTH_FAIL_WINDOW_SECONDS.
//
//   {p}authfail:{hash}  STRING  failures in the current window; EX = AUTH_FAIL_WINDOW_SECONDS
//   {p}block:{hash}     STRING  present while the source is refused; EX = AUTH_BLOCK_SECONDS
import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { memoize } from '../cache.js';
import { batcherFor } from './batch.js';

export type FailureOutcome = 'counted' | 'block_started' | 'blocked';

export interface AuthGuard {
  isBlocked(address: string): Promise<boolean>;
  /** Counts one failure, unless the source is blocked already ('blocked': not counted). */
  recordFailure(address: string): Promise<FailureOutcome>;
  /**
   * The key that exists while `address` is blocked. The binding store checks it in the same script
   * that stores (bindings.ts), so an authenticated REGISTER costs one Redis round trip, not two.
   */
  blockKey(address: string): string;
}

const FAIL_SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

// Sources are few and come back (a phone re-registers from the same address): their keyed hash,
// an HMAC per REGISTER otherwise, is kept for the most recent ones.
const MAX_CACHED_HASHES = 10_000;

export function createAuthGuard(redis: Redis, o: {
  prefix: string; secret: string; limit: number; windowSeconds: number; blockSeconds: number;
}): AuthGuard {
  const hash = memoize((a) => createHmac('sha256', o.secret).update(`auth-guard\n${a}`).digest('base64url').slice(0, 22), MAX_CACHED_HASHES);
  redis.defineCommand('sidecarAuthFail', { numberOfKeys: 2, lua: FAIL_SCRIPT });
  const batch = batcherFor(redis);
  return {
    async isBlocked(address) {
      const key = this.blockKey(address);
      return (await batch<number>((p) => p.exists(key))) === 1;
    },
    async recordFailure(address) {
      const h = hash(address);
      const args = [`${o.prefix}authfail:${h}`, `${o.prefix}block:${h}`, o.windowSeconds, o.limit, o.blockSeconds];
      const r = await batch<number>((p) => (p as unknown as { sidecarAuthFail(...a: (string | number)[]): unknown }).sidecarAuthFail(...args));
      return r === 2 ? 'blocked' : r === 1 ? 'block_started' : 'counted';
    },
    blockKey: (address) => `${o.prefix}block:${hash(address)}`,
  };
}
