// The only module that knows where call legs in flight live in Redis.
//
//   {p}cdr:leg:{cid}   HASH    one leg in flight (fields below); EXPIRE = CDR_CALL_STATE_TTL_SECONDS, renewed per event
//   {p}cdr:done:{cid}  STRING  "1": tombstone of a leg whose row was spooled; EX 600. Late or repeated events
//                              for it count as duplicates instead of opening a new leg. Never written for a leg
//                              that produced no row (opted out, unknown account), so such a call leaves no key.
//   {p}cdr:legs        ZSET    cid -> expiry (ms) of the leg's state; counts legs in flight cheaply
//   {p}cdr:spool       LIST    finished rows waiting for MySQL (owned by spool.ts; the finish script appends to it)
//   {p}cdr:writer      STRING  which instance writes the spool (owned by spool.ts)
//
// cid is a hash of the Call-ID, so no key name holds the Call-ID (which often embeds an IP address).
// Leg fields: v (version, +1 per change), cid (Call-ID), dir (inbound|outbound), att / ans (attempt /
// answer instant, ms, earliest wins), role (uac|uas|proxy), st (status of the 200), the allow-listed
// INVITE facts ru rh fu fh tu rem ua, xa (X-Account-Sid, from our application only), and one flag per
// attempt source (a:network, a:application) and start role (s:uas, …) seen. Never SDP, never a header
// outside that list. A proxied call has one Call-ID and so one leg, fed by both of its INVITEs: the one
// from the network fills the INVITE facts, the forwarded one only fills what is still missing.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AttemptFacts, CdrEvent, Role } from './event.js';

export const DONE_TTL_SECONDS = 600;

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
  facts: AttemptFacts;
}

export type MergeResult = 'ok' | 'duplicate' | 'late';
export type FinishResult = 'spooled' | 'full' | 'dropped' | 'missing' | 'duplicate' | 'changed';

// KEYS: leg, done, index. ARGV: member, index score, ttl s, flag, #set, #setnx, #min, then name/value pairs.
const MERGE = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 'late' end
if redis.call('HSETNX', KEYS[1], ARGV[4], '1') == 0 then return 'duplicate' end
local i = 8
for _ = 1, tonumber(ARGV[5]) do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, tonumber(ARGV[6]) do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, tonumber(ARGV[7]) do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if not cur or tonumber(ARGV[i + 1]) < tonumber(cur) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
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

export interface CallState {
  /** Records an attempt or start; 'duplicate' when this source/role was already seen, 'late' when the leg is finished. */
  merge(ev: Extract<CdrEvent, { type: 'attempt' | 'start' }>, now: number): Promise<MergeResult>;
  read(callId: string): Promise<{ done: boolean; state: LegState | null }>;
  /** Ends the leg if it is still at `version`: deletes it and, with a row, tombstones it and appends the row to the spool. */
  finish(callId: string, version: string, row: string | null, spool: { key: string; max: number }): Promise<FinishResult>;
  /** Legs in flight now (drops index entries whose state expired). */
  countInFlight(now: number): Promise<number>;
  /** Every leg in flight, for the audit and erasure (bounded by `limit`). */
  listInFlight(now: number, limit?: number): Promise<LegState[]>;
  /** Forgets a leg in flight without a row (erasure); true when there was one. */
  discard(callId: string): Promise<boolean>;
  /** Whether a key holds a leg in flight (it may carry the far end's address, as its CDR will). */
  isLegKey(key: string): boolean;
}

type Run = (...args: (string | number)[]) => Promise<string>;

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

export function createCallState(redis: Redis, prefix: string, ttlSeconds: number): CallState {
  const legKey = (id: string) => `${prefix}cdr:leg:${id}`;
  const doneKey = (id: string) => `${prefix}cdr:done:${id}`;
  const indexKey = `${prefix}cdr:legs`;
  redis.defineCommand('sidecarCdrMerge', { numberOfKeys: 3, lua: MERGE });
  redis.defineCommand('sidecarCdrFinish', { numberOfKeys: 4, lua: FINISH });
  redis.defineCommand('sidecarCdrRead', { numberOfKeys: 2, lua: READ });
  redis.defineCommand('sidecarCdrDiscard', { numberOfKeys: 2, lua: DISCARD });
  const r = redis as unknown as {
    sidecarCdrMerge: Run; sidecarCdrFinish: Run; sidecarCdrDiscard: Run; sidecarCdrRead(...a: string[]): Promise<(string | number)[]>;
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
      } else {
        flag = `s:${ev.role}`;
        set.push(['role', legRole(ev.role)]);
        if (ev.status !== null) setnx.push(['st', ev.status]);
        min.push(['ans', ev.at]);
      }
      const id = legId(ev.callId);
      const args: (string | number)[] = [
        legKey(id), doneKey(id), indexKey, id, now + ttlSeconds * 1000, ttlSeconds, flag, set.length, setnx.length, min.length,
      ];
      for (const [k, v] of [...set, ...setnx, ...min]) args.push(k, v);
      return (await r.sidecarCdrMerge(...args)) as MergeResult;
    },

    async read(callId) {
      const id = legId(callId);
      const res = await r.sidecarCdrRead(legKey(id), doneKey(id));
      const h: Record<string, string> = {};
      for (let i = 1; i < res.length; i += 2) h[res[i] as string] = res[i + 1] as string;
      return { done: res[0] === 1, state: h.v ? toState(h) : null };
    },

    async finish(callId, version, row, spool) {
      const id = legId(callId);
      return (await r.sidecarCdrFinish(
        legKey(id), doneKey(id), indexKey, spool.key, id, version, row ?? '', DONE_TTL_SECONDS, spool.max,
      )) as FinishResult;
    },

    async countInFlight(now) {
      const res = await redis.multi().zremrangebyscore(indexKey, '-inf', now).zcard(indexKey).exec();
      return Number(res?.[1]?.[1] ?? 0);
    },

    async listInFlight(now, limit = 10_000) {
      const ids = await redis.zrangebyscore(indexKey, now, '+inf', 'LIMIT', 0, limit);
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
    facts: {
      ruriUser: str(h.ru), ruriHost: str(h.rh), fromUser: str(h.fu), fromHost: str(h.fh), toUser: str(h.tu),
      remoteHost: str(h.rem), userAgent: str(h.ua), xAccountSid: str(h.xa),
    },
  };
}
