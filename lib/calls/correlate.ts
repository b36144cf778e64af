// The only module that knows where call legs in flight live in Redis.
//
//   {p}cdr:leg:{cN}:{cid}   HASH    one leg in flight (fields below); EXPIRE = its due time + STATE_GRACE_SECONDS
//   {p}cdr:done:{cN}:{cid}  STRING  "1": tombstone of a leg whose row was spooled; EX 600. Late or repeated events
//                                   for it count as duplicates instead of opening a new leg. Never written for a leg
//                                   that produced no row (opted out, unknown account), so such a call leaves no key.
//   {p}cdr:legs:{cN}        ZSET    cid -> when the leg is due (ms): CDR_ORPHAN_TIMEOUT_SECONDS after its last event
//                                   while unanswered, CDR_CALL_STATE_TTL_SECONDS once answered, for shard N's legs.
//                                   The orphan sweep (orphans.ts) finalises legs past due; a claim moves a leg's score
//                                   CLAIM_MS ahead so that one instance at a time works on it. Also counts legs in
//                                   flight cheaply.
//   {p}cdr:spool:{cN}       LIST    shard N's finished rows waiting for MySQL (owned by spool.ts; the finish script
//                                   appends to it)
//
// {cN} is the hash tag of the leg's shard (CALL_SHARDS, lib/shards.ts): every key of a leg's scripts shares
// it, so on a Redis Cluster each script runs in one slot and the finish deletes the leg and spools its row
// atomically. cid is a hash of the Call-ID, so no key name holds the Call-ID (which often embeds an IP
// address). Keys of the layout before shards ({p}cdr:leg:{cid}, {p}cdr:legs, …) are moved by migrateLegacy.
// Leg fields: v (version, +1 per change), cid (Call-ID), dir (inbound|outbound), att / ans (attempt /
// answer instant, ms, earliest wins), role (uac|uas|proxy), st (status of the 200), the allow-listed
// INVITE facts ru rh fu fh tu rem ua, xa (X-Account-Sid, from our application only), due (as in the
// index), xs / xt (status and instant of the last stop that did not end the leg, outcome.ts), and one
// flag per attempt source (a:network, a:application), start role (s:uas, …) and such stop (x:network:486)
// seen. Never SDP, never a header outside that list. A proxied call has one Call-ID and so one leg, fed
// by both of its INVITEs: the one from the network fills the INVITE facts, the forwarded one only fills
// what is still missing.
import { createHash } from 'node:crypto';
import type { Result } from 'ioredis';
import { memoize } from '../cache.js';
import { defineScripts, luaScripts } from '../lua.js';
import { mastersOf, scanKeys, type PipelinedRedis } from '../redis.js';
import { createShards } from '../shards.js';
import type { AttemptFacts, CdrEvent, Role } from './event.js';

/** Fixed: a leg's keys and its spool are named by its shard; changing it is a key migration. */
export const CALL_SHARDS = createShards('c', 16);

export const DONE_TTL_SECONDS = 600;
/**
 * A leg's state outlives its due time by this much, so that a sweep that could not run then (no daemon,
 * Redis away) still finds and finalises it afterwards; past that it is gone without a row.
 */
export const STATE_GRACE_SECONDS = 3600;

export type LegRole = 'uac' | 'uas' | 'proxy';
export interface LegState {
  version: string;
  callId: string;
  /** null until an attempt for the leg has been recorded (a start can overtake it across instances). */
  direction: 'inbound' | 'outbound' | null;
  attemptedAt: number | null;
  answeredAt: number | null;
  role: LegRole | null;
  startStatus: number | null;
  /** The INVITE from the network was seen (an inbound B2BUA leg, or a proxied call). */
  fromNetwork: boolean;
  /** When the orphan sweep may finalise the leg (ms). */
  dueAt: number | null;
  /** Status and instant of the last stop that did not end the leg (a proxy target's answer). */
  lastStatus: number | null;
  lastAt: number | null;
  facts: AttemptFacts;
}

export type MergeResult = 'ok' | 'duplicate' | 'late';
export type FinishResult = 'spooled' | 'full' | 'dropped' | 'missing' | 'duplicate' | 'changed';

const SCRIPTS = luaScripts(__dirname, {
  sidecarCdrMerge: ['merge.lua', 3], sidecarCdrFinish: ['finish.lua', 4], sidecarCdrRead: ['read.lua', 2],
  sidecarCdrDiscard: ['discard.lua', 2], sidecarCdrCountInFlight: ['count-in-flight.lua', 1],
  sidecarCdrClaim: ['claim.lua', 1], sidecarCdrPrune: ['prune.lua', 2],
});

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** merge.lua */
    sidecarCdrMerge(...args: (string | number)[]): Result<MergeResult, Context>;
    /** finish.lua */
    sidecarCdrFinish(leg: string, done: string, index: string, spool: string, member: string, version: string, row: string, doneTtl: number, spoolMax: number): Result<FinishResult, Context>;
    /** read.lua: done (0 | 1), then the leg's field/value pairs */
    sidecarCdrRead(leg: string, done: string): Result<[number, ...string[]], Context>;
    /** discard.lua */
    sidecarCdrDiscard(leg: string, index: string, member: string): Result<'discarded' | 'none', Context>;
    /** count-in-flight.lua */
    sidecarCdrCountInFlight(index: string, oldestAlive: number): Result<number, Context>;
    /** claim.lua: the claimed members */
    sidecarCdrClaim(index: string, now: number, claimedUntil: number, limit: number): Result<string[], Context>;
    /** prune.lua */
    sidecarCdrPrune(leg: string, index: string, member: string): Result<'pruned' | 'live', Context>;
  }
}

export interface CallState {
  /**
   * Records an attempt, a start, or a stop that does not end the leg; 'duplicate' when this source/role
   * (or stop) was already seen, 'late' when the leg is finished.
   */
  merge(ev: CdrEvent, now: number): Promise<MergeResult>;
  read(callId: string): Promise<{ done: boolean; state: LegState | null }>;
  /** The same by the leg's id (what the index holds). */
  readLeg(id: string): Promise<{ done: boolean; state: LegState | null }>;
  /** Ends the leg if it is still at `version`: deletes it and, with a row, tombstones it and appends the row to the spool. */
  finish(callId: string, version: string, row: string | null, spool: { keyOf(tag: string): string; maxPerShard: number }): Promise<FinishResult>;
  /** The key a leg's writes land on (its shard's tag: a replica ack is asked of that key's master). */
  keyOfLeg(callId: string): string;
  /** Legs in flight now (drops index entries whose state expired). */
  countInFlight(now: number): Promise<number>;
  /** Ids of up to `limit` legs past due, claimed for `claimMs` (the orphan sweep). */
  claimDue(now: number, claimMs: number, limit: number): Promise<string[]>;
  /** Drops the index entry of a leg whose state has expired. */
  prune(id: string): Promise<void>;
  /** Every leg in flight, for the audit and erasure (bounded by `limit`). */
  listInFlight(now: number, limit?: number): Promise<LegState[]>;
  /** Forgets a leg in flight without a row (erasure); true when there was one. */
  discard(callId: string): Promise<boolean>;
  /** Whether a key holds a leg in flight (it may carry the far end's address, as its CDR will). */
  isLegKey(key: string): boolean;
  /** Moves legs and tombstones of the layout before shards into their shards (one server only). */
  migrateLegacy(): Promise<number>;
}

// A leg's id is needed by each of its events (attempt, start, the stop's read and finish): a SHA-256
// each time was 4 % of an event's cost. The most recent ones are kept.
export const legId = memoize((callId) => createHash('sha256').update(callId).digest('base64url').slice(0, 22), 20_000);
// Its shard's tag names each of its keys (leg, tombstone, index): another hash, kept likewise (ids are hashes).
const tagOfLeg = memoize((id) => CALL_SHARDS.tagOf(id), 20_000);

/** Where a leg's state and tombstone are (for the stores' own tests: no other module builds these). */
export function legKeys(prefix: string, callId: string): { leg: string; done: string } {
  const id = legId(callId);
  const tag = tagOfLeg(id);
  return { leg: `${prefix}cdr:leg:${tag}:${id}`, done: `${prefix}cdr:done:${tag}:${id}` };
}

/**
 * `ttlSeconds` (CDR_CALL_STATE_TTL_SECONDS): an answered leg is due this long after its last event;
 * `orphanSeconds` (CDR_ORPHAN_TIMEOUT_SECONDS): an unanswered one this long after.
 */
export function createCallState(redis: PipelinedRedis, prefix: string, ttlSeconds: number, orphanSeconds = ttlSeconds): CallState {
  const legKey = (id: string) => `${prefix}cdr:leg:${tagOfLeg(id)}:${id}`;
  const doneKey = (id: string) => `${prefix}cdr:done:${tagOfLeg(id)}:${id}`;
  const indexOf = (id: string) => `${prefix}cdr:legs:${tagOfLeg(id)}`;
  const indexKeys = CALL_SHARDS.tags.map((t) => `${prefix}cdr:legs:${t}`);
  const graceMs = STATE_GRACE_SECONDS * 1000;
  defineScripts(redis, SCRIPTS);
  const readLeg = async (id: string): Promise<{ done: boolean; state: LegState | null }> => {
    const res = await redis.sidecarCdrRead(legKey(id), doneKey(id));
    const h: Record<string, string> = {};
    for (let i = 1; i < res.length; i += 2) h[res[i] as string] = res[i + 1] as string;
    return { done: res[0] === 1, state: h.v ? toState(h) : null };
  };

  return {
    async merge(ev, now) {
      const set: [string, string | number][] = [];
      const setnx: [string, string | number][] = [['cid', ev.callId]];
      const min: [string, number][] = [];
      let flag: string;
      if (ev.type === 'attempt') {
        flag = `a:${ev.source}`;
        const f = ev.facts;
        const facts: [string, string | null][] = [
          ['ru', f.ruriUser], ['rh', f.ruriHost], ['fu', f.fromUser], ['fh', f.fromHost],
          ['tu', f.toUser], ['rem', f.remoteHost], ['ua', f.userAgent],
        ];
        const present = facts.filter((p): p is [string, string] => p[1] !== null);
        if (ev.source === 'network') set.push(['dir', 'inbound'], ...present);
        else setnx.push(['dir', 'outbound'], ...present);
        if (f.xAccountSid !== null) set.push(['xa', f.xAccountSid]);
        min.push(['att', ev.at]);
      } else if (ev.type === 'start') {
        flag = `s:${ev.role}`;
        set.push(['role', legRole(ev.role)]);
        if (ev.status !== null) setnx.push(['st', ev.status]);
        min.push(['ans', ev.at]);
      } else {
        flag = `x:${ev.source}:${ev.status ?? ev.reason}`;
        set.push(['xt', ev.at]);
        if (ev.status !== null) set.push(['xs', ev.status]);
      }
      const id = legId(ev.callId);
      const args: (string | number)[] = [
        legKey(id), doneKey(id), indexOf(id), id,
        now + orphanSeconds * 1000, orphanSeconds + STATE_GRACE_SECONDS, now + ttlSeconds * 1000, ttlSeconds + STATE_GRACE_SECONDS,
        flag, set.length, setnx.length, min.length,
      ];
      for (const [k, v] of [...set, ...setnx, ...min]) args.push(k, v);
      return redis.sidecarCdrMerge(...args);
    },

    read: (callId) => readLeg(legId(callId)),
    readLeg,

    async finish(callId, version, row, spool) {
      const id = legId(callId);
      return redis.sidecarCdrFinish(legKey(id), doneKey(id), indexOf(id), spool.keyOf(tagOfLeg(id)), id, version, row ?? '', DONE_TTL_SECONDS, spool.maxPerShard);
    },

    keyOfLeg: (callId) => legKey(legId(callId)),

    async countInFlight(now) {
      const counts = await Promise.all(indexKeys.map((k) => redis.sidecarCdrCountInFlight(k, now - graceMs)));
      return counts.reduce((a, n) => a + Number(n), 0);
    },

    // Each shard in turn, until `limit` legs are claimed.
    async claimDue(now, claimMs, limit) {
      const ids: string[] = [];
      for (const k of indexKeys) {
        if (ids.length >= limit) break;
        ids.push(...(await redis.sidecarCdrClaim(k, now, now + claimMs, limit - ids.length)));
      }
      return ids;
    },

    async prune(id) {
      await redis.sidecarCdrPrune(legKey(id), indexOf(id), id);
    },

    async listInFlight(now, limit = 10_000) {
      const legs: LegState[] = [];
      for (const index of indexKeys) {
        if (legs.length >= limit) break;
        const ids = await redis.zrangebyscore(index, now - graceMs, '+inf', 'LIMIT', 0, limit - legs.length);
        if (ids.length === 0) continue;
        // One shard's legs share its slot: one pipeline each, on a cluster too.
        const p = redis.pipeline();
        for (const id of ids) p.hgetall(legKey(id));
        const res = (await p.exec()) ?? [];
        legs.push(...res.map(([, h]) => h as Record<string, string>).filter((h) => h && h.v).map(toState));
      }
      return legs;
    },

    async discard(callId) {
      const id = legId(callId);
      return (await redis.sidecarCdrDiscard(legKey(id), indexOf(id), id)) === 'discarded';
    },

    isLegKey: (key) => key.startsWith(`${prefix}cdr:leg:`),

    async migrateLegacy() {
      const node = mastersOf(redis)[0]!;
      let moved = 0;
      for (const family of ['leg', 'done'] as const) {
        for (const key of await scanKeys(redis, `${prefix}cdr:${family}:*`)) {
          const id = key.slice(`${prefix}cdr:${family}:`.length);
          if (id.startsWith('{')) continue;
          const to = family === 'leg' ? legKey(id) : doneKey(id);
          // RENAME keeps the value and its TTL in one step (one server: any two keys).
          const due = family === 'leg' ? await node.zscore(`${prefix}cdr:legs`, id) : null;
          const m = node.multi().rename(key, to);
          if (family === 'leg') m.pttl(to);
          const res = await m.exec().catch(() => null);
          if (family === 'leg' && res) {
            // The old index's due time; without one, due when the state would have expired.
            const pttl = Number(res[1]?.[1] ?? -1);
            await node.zadd(indexOf(id), due ?? Date.now() + (pttl > 0 ? pttl - graceMs : ttlSeconds * 1000), id);
          }
          if (res) moved++;
        }
      }
      await node.del(`${prefix}cdr:legs`);
      return moved;
    },
  };
}

function legRole(role: Role): LegRole {
  return role === 'uac' || role === 'uas' ? role : 'proxy';
}

const num = (s: string | undefined) => (s === undefined || s === '' || !Number.isFinite(Number(s)) ? null : Number(s));
const str = (s: string | undefined) => (s === undefined || s === '' ? null : s);

function toState(h: Record<string, string>): LegState {
  return {
    version: h.v,
    callId: h.cid ?? '',
    direction: h.dir === 'inbound' || h.dir === 'outbound' ? h.dir : null,
    attemptedAt: num(h.att),
    answeredAt: num(h.ans),
    role: h.role === 'uac' || h.role === 'uas' || h.role === 'proxy' ? h.role : null,
    startStatus: num(h.st),
    fromNetwork: h['a:network'] === '1',
    dueAt: num(h.due),
    lastStatus: num(h.xs),
    lastAt: num(h.xt),
    facts: {
      ruriUser: str(h.ru), ruriHost: str(h.rh), fromUser: str(h.fu), fromHost: str(h.fh), toUser: str(h.tu),
      remoteHost: str(h.rem), userAgent: str(h.ua), xAccountSid: str(h.xa),
    },
  };
}
