// Refuses, for a while, a source address that keeps failing authentication.
// Keys hold a keyed hash of the address, never the address, and live at most
// AUTH_BLOCK_SECONDS / AUTH_FAIL_WINDOW_SECONDS.
//
//   {p}authfail:{<hash>}  STRING  failures in the current window; EX = AUTH_FAIL_WINDOW_SECONDS
//   {p}block:{<hash>}     STRING  present while the source is refused; EX = AUTH_BLOCK_SECONDS
// The hash is the keys' hash tag: both sit in one slot of a Redis Cluster, as auth-fail.lua needs.
import { createHmac } from 'node:crypto';
import type { Result } from 'ioredis';
import { memoize } from '../cache.js';
import { defineScripts, luaScript } from '../lua.js';
import type { RedisClient } from '../redis.js';
import { batcherFor } from './batch.js';

export type FailureOutcome = 'counted' | 'block_started' | 'blocked';

const FAIL = luaScript(__dirname, 'auth-fail.lua', 'sidecarAuthFail', 2);

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** auth-fail.lua */
    sidecarAuthFail(failures: string, block: string, windowSeconds: number, limit: number, blockSeconds: number): Result<FailureOutcome, Context>;
  }
}

export interface AuthGuard {
  isBlocked(address: string): Promise<boolean>;
  /** Counts one failure, unless the source is blocked already ('blocked': not counted). */
  recordFailure(address: string): Promise<FailureOutcome>;
  /** Refuses the source for `seconds` from now (a registration hook's blacklist), unless it is blocked already. */
  block(address: string, seconds: number): Promise<FailureOutcome>;
  /**
   * The key that exists while `address` is blocked. The binding store checks it in the same script
   * that stores (bindings.ts), so an authenticated REGISTER costs one Redis round trip, not two.
   */
  blockKey(address: string): string;
}

// Sources are few and come back (a phone re-registers from the same address): their keyed hash,
// an HMAC per REGISTER otherwise, is kept for the most recent ones.
const MAX_CACHED_HASHES = 10_000;

export function createAuthGuard(redis: RedisClient, o: {
  prefix: string; secret: string; limit: number; windowSeconds: number; blockSeconds: number;
}): AuthGuard {
  const hash = memoize((a) => createHmac('sha256', o.secret).update(`auth-guard\n${a}`).digest('base64url').slice(0, 22), MAX_CACHED_HASHES);
  defineScripts(redis, [FAIL]);
  const batch = batcherFor(redis);
  return {
    async isBlocked(address) {
      const key = this.blockKey(address);
      return (await batch<number>((p) => p.exists(key))) === 1;
    },
    async recordFailure(address) {
      const h = hash(address);
      return batch<FailureOutcome>((p) => p.sidecarAuthFail(`${o.prefix}authfail:{${h}}`, `${o.prefix}block:{${h}}`, o.windowSeconds, o.limit, o.blockSeconds));
    },
    async block(address, seconds) {
      const started = await batch<'OK' | null>((p) => p.set(`${o.prefix}block:{${hash(address)}}`, '1', 'EX', seconds, 'NX'));
      return started === 'OK' ? 'block_started' : 'blocked';
    },
    blockKey: (address) => `${o.prefix}block:{${hash(address)}}`,
  };
}
