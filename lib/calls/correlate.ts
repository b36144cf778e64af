// The only module that knows where call legs in flight live in Redis.
//
//   {p}cdr:leg:{cid}   HASH    one leg in flight (fields below); EXPIRE = its due time + STATE_GRACE_SECONDS
//   {p}cdr:done:{cid}  STRING  "1": tombstone of a leg whose row was spooled; EX 600. Late or repeated events
//                              for it count as duplicates instead of opening a new leg. Never written for a leg
//                              that produced no row (opted out, unknown account), so such a call leaves no key.
//   {p}cdr:legs        ZSET    cid -> when the leg is due (ms): CDR_ORPHAN_TIMEOUT_SECONDS after its last event while
//                              unanswered, CDR_CALL_STATE_TTL_SECONDS once answered. The orphan sweep (orphans.ts)
//                              finalises legs past due; a claim moves a leg's score CLAIM_MS ahead so that one
//                              instance at a time works on it. Also counts legs in flight cheaply.
//   {p}cdr:spool       LIST    finished rows waiting for MySQL (owned by spool.ts; the finish script appends to it)
//   {p}cdr:writer      STRING  which instance writes the spool (owned by spool.ts)
//
// cid is a hash of the Call-ID, so no key name holds the Call-ID (which often embeds an IP address).
// Leg fields: v (version, +1 per change), cid (Call-ID), dir (inbound|outbound), att / ans (attempt /
// answer instant, ms, earliest wins), role (uac|uas|proxy), st (status of the 200), the allow-listed
// INVITE facts ru rh fu fh tu rem ua, xa (X-Account-Sid, from our application only), due (as in the
// index), xs / xt (status and instant of the last stop that did not end the leg, outcome.ts), and one
// flag per attempt source (a:network, a:application), start role (s:uas, …) and such stop (x:network:486)
// seen. Never SDP, never a header outside that list. A proxied call has one Call-ID and so one leg, fed
// by both of its INVITEs: the one from the network fills the INVITE facts, the forwarded one only fills
// what is still missing.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AttemptFacts, CdrEvent, Role } from './event.js';

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

// KEYS: leg, done, index. ARGV: member, due and expiry (s) while unanswered, due and expiry once answered,
// flag, #set, #setnx, #min, then name/value pairs. Each event renews the leg's due time.
const MERGE = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 'late' end
if redis.call('HSETNX', KEYS[1], ARGV[6], '1') == 0 then return 'duplicate' end
local i = 10
for _ = 1, tonumber(ARGV[7]) do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, tonumber(ARGV[8]) do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, tonumber(ARGV[9]) do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if not cur or tonumber(ARGV[i + 1]) < tonumber(cur) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
local due, ex = ARGV[2], ARGV[3]
if redis.call('HEXISTS', KEYS[1], 'ans') == 1 then due, ex = ARGV[4], ARGV[5] end
redis.call('HSET', KEYS[1], 'due', due)
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('EXPIRE', KEYS[1], ex)
redis.call('ZADD', KEYS[3], due, ARGV[1])
return 'ok'
`;

// KEYS: leg, done, index, spool. ARGV: member, expected version, row JSON ('' = no row), done ttl, spool max.
// Deleting the leg and queueing its row happen together, so no crash can lose one without the other.
const FINISH = `
local v = redis.call('HGET', KEYS[1], 'v')
if not v then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 'duplicate' end
  return 'missing'
end
if v ~= ARGV[2] then return 'changed' end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[3] == '' then return 'dropped' end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
if redis.call('LLEN', KEYS[4]) >= tonumber(ARGV[5]) then return 'full' end
redis.call('RPUSH', KEYS[4], ARGV[3])
return 'spooled'
`;

// KEYS: leg, done. The leg's fields and whether it is finished, in one command (not MULTI): the recorder's
// connection pipelines its commands (recorder.ts), and a MULTI would overtake the merges queued before it.
const READ = `
local h = redis.call('HGETALL', KEYS[1])
table.insert(h, 1, redis.call('EXISTS', KEYS[2]))
return h
`;

// KEYS: leg, index. ARGV: member. 1 when there was a leg.
const DISCARD = `
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
`;

// KEYS: index. ARGV: now, claimed until (ms), limit. Legs past due, each moved to 'claimed until' in the
// same step: two instances sweeping at once never take the same leg, and one that dies leaves it due again.
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id) end
return ids
`;

// KEYS: leg, index. ARGV: member. Drops an index entry whose state has expired (never a live leg's).
const PRUNE = `
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 1
`;

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
  finish(callId: string, version: string, row: string | null, spool: { key: string; max: number }): Promise<FinishResult>;
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
}

type Run = (...args: (string | number)[]) => Promise<string>;
type RunList = (...args: (string | number)[]) => Promise<string[]>;

// A leg's id is needed by each of its events (attempt, start, the stop's read and finish): a SHA-256
// each time was 4 % of an event's cost. The last few thousand are kept (emptied when full).
const ids = new Map<string, string>();
const MAX_CACHED_IDS = 20_000;

export function legId(callId: string): string {
  let id = ids.get(callId);
  if (id === undefined) {
    id = createHash('sha256').update(callId).digest('base64url').slice(0, 22);
    if (ids.size >= MAX_CACHED_IDS) ids.clear();
    ids.set(callId, id);
  }
  return id;
}

/**
 * `ttlSeconds` (CDR_CALL_STATE_TTL_SECONDS): an answered leg is due this long after its last event;
 * `orphanSeconds` (CDR_ORPHAN_TIMEOUT_SECONDS): an unanswered one this long after.
 */
export function createCallState(redis: Redis, prefix: string, ttlSeconds: number, orphanSeconds = ttlSeconds): CallState {
  const legKey = (id: string) => `${prefix}cdr:leg:${id}`;
  const doneKey = (id: string) => `${prefix}cdr:done:${id}`;
  const indexKey = `${prefix}cdr:legs`;
  const graceMs = STATE_GRACE_SECONDS * 1000;
  redis.defineCommand('sidecarCdrMerge', { numberOfKeys: 3, lua: MERGE });
  redis.defineCommand('sidecarCdrFinish', { numberOfKeys: 4, lua: FINISH });
  redis.defineCommand('sidecarCdrRead', { numberOfKeys: 2, lua: READ });
  redis.defineCommand('sidecarCdrDiscard', { numberOfKeys: 2, lua: DISCARD });
  redis.defineCommand('sidecarCdrClaim', { numberOfKeys: 1, lua: CLAIM });
  redis.defineCommand('sidecarCdrPrune', { numberOfKeys: 2, lua: PRUNE });
  const r = redis as unknown as {
    sidecarCdrMerge: Run; sidecarCdrFinish: Run; sidecarCdrDiscard: Run; sidecarCdrPrune: Run;
    sidecarCdrClaim: RunList; sidecarCdrRead(...a: string[]): Promise<(string | number)[]>;
  };
  const readLeg = async (id: string): Promise<{ done: boolean; state: LegState | null }> => {
    const res = await r.sidecarCdrRead(legKey(id), doneKey(id));
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
        legKey(id), doneKey(id), indexKey, id,
        now + orphanSeconds * 1000, orphanSeconds + STATE_GRACE_SECONDS, now + ttlSeconds * 1000, ttlSeconds + STATE_GRACE_SECONDS,
        flag, set.length, setnx.length, min.length,
      ];
      for (const [k, v] of [...set, ...setnx, ...min]) args.push(k, v);
      return (await r.sidecarCdrMerge(...args)) as MergeResult;
    },

    read: (callId) => readLeg(legId(callId)),
    readLeg,

    async finish(callId, version, row, spool) {
      const id = legId(callId);
      return (await r.sidecarCdrFinish(
        legKey(id), doneKey(id), indexKey, spool.key, id, version, row ?? '', DONE_TTL_SECONDS, spool.max,
      )) as FinishResult;
    },

    async countInFlight(now) {
      const res = await redis.multi().zremrangebyscore(indexKey, '-inf', `(${now - graceMs}`).zcard(indexKey).exec();
      return Number(res?.[1]?.[1] ?? 0);
    },

    claimDue: (now, claimMs, limit) => r.sidecarCdrClaim(indexKey, now, now + claimMs, limit),

    async prune(id) {
      await r.sidecarCdrPrune(legKey(id), indexKey, id);
    },

    async listInFlight(now, limit = 10_000) {
      const ids = await redis.zrangebyscore(indexKey, now - graceMs, '+inf', 'LIMIT', 0, limit);
      if (ids.length === 0) return [];
      const p = redis.pipeline();
      for (const id of ids) p.hgetall(legKey(id));
      const res = (await p.exec()) ?? [];
      return res.map(([, h]) => h as Record<string, string>).filter((h) => h && h.v).map(toState);
    },

    async discard(callId) {
      const id = legId(callId);
      return Number(await r.sidecarCdrDiscard(legKey(id), indexKey, id)) === 1;
    },

    isLegKey: (key) => key.startsWith(`${prefix}cdr:leg:`),
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
