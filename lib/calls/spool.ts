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
import { StoreUnavailableError } from '../errors.js';
import { parseSpoolRow, type SpoolRow } from './row.js';

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
  /**
   * Removes the rows `matches` accepts (erasure). Safe while writers trim the head: a row is only
   * marked where it still stands, and a scan that finds the list moved starts again. Works in
   * chunks, so Redis is never blocked by one long script.
   */
  erase(matches: (row: SpoolRow) => boolean | Promise<boolean>): Promise<number>;
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

// KEYS: spool. ARGV: mark, then index/row pairs. Marks every row if each still stands at its index;
// 0 (nothing marked) when one does not: a writer trimmed the head meanwhile.
const MARK = `
for i = 2, #ARGV, 2 do
  if redis.call('LINDEX', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then return 0 end
end
for i = 2, #ARGV, 2 do redis.call('LSET', KEYS[1], ARGV[i], ARGV[1]) end
return 1
`;

const ERASE_CHUNK = 1000;
/** What an erased row is replaced with until the one LREM that removes them all; writers skip it. */
export const ERASED = '\u0000erased';
const MAX_ERASE_SCANS = 20;

type Run = (...args: (string | number)[]) => Promise<unknown>;

export function createSpool(redis: Redis, prefix: string, max: number): Spool {
  const key = `${prefix}cdr:spool`;
  const lockKey = `${prefix}cdr:writer`;
  redis.defineCommand('sidecarCdrLock', { numberOfKeys: 1, lua: LOCK });
  redis.defineCommand('sidecarCdrRelease', { numberOfKeys: 1, lua: RELEASE });
  redis.defineCommand('sidecarCdrTrim', { numberOfKeys: 2, lua: TRIM });
  redis.defineCommand('sidecarCdrMark', { numberOfKeys: 1, lua: MARK });
  const r = redis as unknown as Record<'sidecarCdrLock' | 'sidecarCdrRelease' | 'sidecarCdrTrim' | 'sidecarCdrMark', Run>;

  /** One pass over the spool; null when the list moved under it (rows marked so far stay marked). */
  const markAll = async (matches: (row: SpoolRow) => boolean | Promise<boolean>): Promise<number | null> => {
    const len = await redis.llen(key);
    let marked = 0;
    for (let start = 0; start < len; start += ERASE_CHUNK) {
      const chunk = await redis.lrange(key, start, Math.min(start + ERASE_CHUNK, len) - 1);
      const args: (string | number)[] = [];
      for (let i = 0; i < chunk.length; i++) {
        const row = chunk[i] === ERASED ? null : parseSpoolRow(chunk[i]!);
        if (row && (await matches(row))) args.push(start + i, chunk[i]!);
      }
      if (args.length === 0) continue;
      if (Number(await r.sidecarCdrMark(key, ERASED, ...args)) !== 1) return null;
      marked += args.length / 2;
    }
    return marked;
  };

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
    async erase(matches) {
      // Mark, then remove every mark in one LREM: one pass instead of one LREM per row.
      let marked = 0;
      for (let scan = 0; scan < MAX_ERASE_SCANS; scan++) {
        const n = await markAll(matches);
        marked += n ?? 0;
        if (n !== null) {
          if (marked) await redis.lrem(key, 0, ERASED);
          return marked;
        }
      }
      // Marked rows stay marked (writers skip them), but not all were found: say so, not "done".
      if (marked) await redis.lrem(key, 0, ERASED);
      throw new StoreUnavailableError('redis', `the CDR spool kept moving during ${MAX_ERASE_SCANS} scans; erasure not complete, try again`);
    },
  };
}
