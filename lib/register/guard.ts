// Refuses, for a while, a source address that keeps failing authentication.
// Keys hold a keyed hash of the address, never the address, and live at most
// AUTH_BLOCK_SECONDS / AUTH_FAIL_WINDOW_SECONDS.
//
//   {p}authfail:{hash}  STRING  failures in the current window; EX = AUTH_FAIL_WINDOW_SECONDS
//   {p}block:{hash}     STRING  present while the source is refused; EX = AUTH_BLOCK_SECONDS
import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface AuthGuard {
  isBlocked(address: string): Promise<boolean>;
  /** Counts one failure; true when this failure starts a block. */
  recordFailure(address: string): Promise<boolean>;
}

const FAIL_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

export function createAuthGuard(redis: Redis, o: {
  prefix: string; secret: string; limit: number; windowSeconds: number; blockSeconds: number;
}): AuthGuard {
  const hash = (a: string) => createHmac('sha256', o.secret).update(`auth-guard\n${a}`).digest('base64url').slice(0, 22);
  redis.defineCommand('sidecarAuthFail', { numberOfKeys: 2, lua: FAIL_SCRIPT });
  const fail = (redis as unknown as { sidecarAuthFail(...a: (string | number)[]): Promise<number> }).sidecarAuthFail.bind(redis);
  return {
    async isBlocked(address) {
      return (await redis.exists(`${o.prefix}block:${hash(address)}`)) === 1;
    },
    async recordFailure(address) {
      const h = hash(address);
      return (await fail(`${o.prefix}authfail:${h}`, `${o.prefix}block:${h}`, o.windowSeconds, o.limit, o.blockSeconds)) === 1;
    },
  };
}
