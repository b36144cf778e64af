// The Redis spool of finished CDR rows and the lock that lets one instance at a time write it.
//
//   {p}cdr:spool   LIST    JSON rows (row.ts), oldest first; bounded by CDR_SPOOL_MAX (the finish script in
//                          correlate.ts refuses to push past it)
//   {p}cdr:writer  STRING  id of the instance writing the spool; PX = lock lifetime, renewed per batch
//
// The writer reads a batch from the head (LRANGE), inserts it, then trims it (LTRIM). The trim only
// happens while the lock is still ours and the head is still the batch we read, so a writer that lost
// its lock, or a trim command resent after a lost reply, can never remove rows it did not write.
import type { Redis } from 'ioredis';

export interface Spool {
  readonly key: string;
  readonly max: number;
  depth(): Promise<number>;
  /** Takes the writer lock, or renews it when `owner` already holds it. */
  lock(owner: string, ttlMs: number): Promise<boolean>;
  release(owner: string): Promise<void>;
  head(n: number): Promise<string[]>;
  /** Removes `batch` from the head if `owner` holds the lock and the head is still `batch`. */
  trim(owner: string, ttlMs: number, batch: readonly string[]): Promise<'trimmed' | 'not_owner' | 'moved'>;
  /** Removes the spooled rows of an account (optionally only those where `number` is the From or To user). */
  erase(accountSid: string, number?: string): Promise<number>;
}

const LOCK = `
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1 end
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1 end
return 0
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

// KEYS: spool, lock. ARGV: owner, ttl ms, n, first row, last row.
const TRIM = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'not_owner' end
local n = tonumber(ARGV[3])
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[4] or redis.call('LINDEX', KEYS[1], n - 1) ~= ARGV[5] then return 'moved' end
redis.call('LTRIM', KEYS[1], n, -1)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 'trimmed'
`;

// KEYS: spool. ARGV: account sid, number ('' = any).
const ERASE = `
local removed = 0
for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local ok, row = pcall(cjson.decode, raw)
  if ok and type(row) == 'table' and row.accountSid == ARGV[1]
     and (ARGV[2] == '' or row.fromUser == ARGV[2] or row.toUser == ARGV[2]) then
    removed = removed + redis.call('LREM', KEYS[1], 1, raw)
  end
end
return removed
`;

type Run = (...args: (string | number)[]) => Promise<unknown>;

export function createSpool(redis: Redis, prefix: string, max: number): Spool {
  const key = `${prefix}cdr:spool`;
  const lockKey = `${prefix}cdr:writer`;
  redis.defineCommand('sidecarCdrLock', { numberOfKeys: 1, lua: LOCK });
  redis.defineCommand('sidecarCdrRelease', { numberOfKeys: 1, lua: RELEASE });
  redis.defineCommand('sidecarCdrTrim', { numberOfKeys: 2, lua: TRIM });
  redis.defineCommand('sidecarCdrErase', { numberOfKeys: 1, lua: ERASE });
  const r = redis as unknown as Record<'sidecarCdrLock' | 'sidecarCdrRelease' | 'sidecarCdrTrim' | 'sidecarCdrErase', Run>;

  return {
    key,
    max,
    depth: () => redis.llen(key),
    async lock(owner, ttlMs) {
      return Number(await r.sidecarCdrLock(lockKey, owner, ttlMs)) === 1;
    },
    async release(owner) {
      await r.sidecarCdrRelease(lockKey, owner);
    },
    head: (n) => redis.lrange(key, 0, n - 1),
    async trim(owner, ttlMs, batch) {
      if (batch.length === 0) return 'trimmed';
      return (await r.sidecarCdrTrim(key, lockKey, owner, ttlMs, batch.length, batch[0], batch[batch.length - 1])) as 'trimmed' | 'not_owner' | 'moved';
    },
    async erase(accountSid, number) {
      return Number(await r.sidecarCdrErase(key, accountSid, number ?? ''));
    },
  };
}
