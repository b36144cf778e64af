// The Redis spool of finished CDR rows and the locks that let one instance at a time write each shard.
//
//   {p}cdr:spool:{cN}   LIST    JSON rows (row.ts) of the legs of call shard N (correlate.ts), oldest first;
//                               bounded by CDR_SPOOL_MAX / CALL_SHARDS (the finish script refuses to push past it)
//   {p}cdr:writer:{cN}  STRING  id of the instance writing shard N; PX = lock lifetime, renewed per batch
//   {p}cdr:spool        LIST    the spool before shards: drained like a shard (its rows moved into shard 0 at
//                               start, migrateLegacy), never written
//
// A shard's spool and lock share the tag of its legs, so the finish script appends to the spool in the
// slot of the leg it deletes, and a trim checks the lock in the slot it trims.
// The writer reads a batch from the head (LRANGE), inserts it, then trims it (LTRIM). The trim only
// happens while the lock is still ours and the head is still the batch we read, so a writer that lost
// its lock, or a trim command resent after a lost reply, can never remove rows it did not write.
import { Cluster, type Result } from 'ioredis';
import { StoreUnavailableError } from '../errors.js';
import { defineScripts, luaScripts } from '../lua.js';
import { mastersOf, type PipelinedRedis } from '../redis.js';
import { CALL_SHARDS } from './correlate.js';
import { parseSpoolRow, type SpoolRow } from './row.js';

export interface Spool {
  readonly shards: readonly SpoolShard[];
  /** The spool key of the call shard with this tag (the finish script appends to it). */
  keyOf(tag: string): string;
  /** Rows one shard holds at most (CDR_SPOOL_MAX spread over the shards). */
  readonly maxPerShard: number;
  isSpoolKey(key: string): boolean;
  /** Rows waiting, over every shard. */
  depth(): Promise<number>;
  /** Releases every shard lock `owner` holds. */
  release(owner: string): Promise<void>;
  /** Removes the rows `matches` accepts from every shard (see SpoolShard.erase). */
  erase(matches: (row: SpoolRow) => boolean | Promise<boolean>): Promise<number>;
  /** Moves the rows of the spool before shards into shard 0, oldest first, one atomic LMOVE each. */
  migrateLegacy(): Promise<number>;
}

export interface SpoolShard {
  readonly key: string;
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

const SCRIPTS = luaScripts(__dirname, {
  sidecarCdrLock: ['spool-lock.lua', 1], sidecarCdrRelease: ['spool-release.lua', 1],
  sidecarCdrTrim: ['spool-trim.lua', 2], sidecarCdrMark: ['spool-mark.lua', 1],
});

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** spool-lock.lua */
    sidecarCdrLock(lock: string, owner: string, ttlMs: number): Result<'locked' | 'renewed' | 'taken', Context>;
    /** spool-release.lua */
    sidecarCdrRelease(lock: string, owner: string): Result<'released' | 'not_owner', Context>;
    /** spool-trim.lua */
    sidecarCdrTrim(spool: string, lock: string, owner: string, ttlMs: number, n: number, first: string, last: string): Result<'trimmed' | 'not_owner' | 'moved', Context>;
    /** spool-mark.lua: ARGV mark, then index/row pairs */
    sidecarCdrMark(spool: string, mark: string, ...pairs: (string | number)[]): Result<'marked' | 'moved', Context>;
  }
}

const ERASE_CHUNK = 1000;
/** What an erased row is replaced with until the one LREM that removes them all; writers skip it. */
export const ERASED = '\u0000erased';
const MAX_ERASE_SCANS = 20;

export function createSpool(redis: PipelinedRedis, prefix: string, max: number): Spool {
  defineScripts(redis, SCRIPTS);
  const legacyKey = `${prefix}cdr:spool`;
  const maxPerShard = Math.max(1, Math.ceil(max / CALL_SHARDS.count));
  const keyOf = (tag: string) => `${prefix}cdr:spool:${tag}`;
  const shards = CALL_SHARDS.tags.map((tag) => createShard(redis, keyOf(tag), `${prefix}cdr:writer:${tag}`));
  // Rows of an un-migrated spool (a daemon of the layout before shards wrote them after our start) are
  // written too: the old key is one more shard with its own lock.
  // (Never on a cluster: that layout could not run there.)
  const all = redis instanceof Cluster ? shards : [...shards, createShard(redis, legacyKey, `${prefix}cdr:writer`)];
  const sum = (ns: number[]) => ns.reduce((a, b) => a + b, 0);
  return {
    shards: all,
    keyOf,
    maxPerShard,
    isSpoolKey: (k) => k === legacyKey || k.startsWith(`${legacyKey}:`),
    depth: async () => sum(await Promise.all(all.map((s) => s.depth()))),
    async release(owner) {
      await Promise.all(all.map((s) => s.release(owner)));
    },
    erase: async (matches) => sum(await Promise.all(all.map((s) => s.erase(matches)))),
    async migrateLegacy() {
      const node = mastersOf(redis)[0]!;
      let moved = 0;
      while ((await node.lmove(legacyKey, shards[0]!.key, 'LEFT', 'RIGHT')) !== null) moved++;
      return moved;
    },
  };
}

function createShard(redis: PipelinedRedis, key: string, lockKey: string): SpoolShard {

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
      if ((await redis.sidecarCdrMark(key, ERASED, ...args)) !== 'marked') return null;
      marked += args.length / 2;
    }
    return marked;
  };

  return {
    key,
    depth: () => redis.llen(key),
    async lock(owner, ttlMs) {
      return (await redis.sidecarCdrLock(lockKey, owner, ttlMs)) !== 'taken';
    },
    async release(owner) {
      await redis.sidecarCdrRelease(lockKey, owner);
    },
    head: (n) => redis.lrange(key, 0, n - 1),
    async trim(owner, ttlMs, batch) {
      if (batch.length === 0) return 'trimmed';
      return redis.sidecarCdrTrim(key, lockKey, owner, ttlMs, batch.length, batch[0]!, batch[batch.length - 1]!);
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
