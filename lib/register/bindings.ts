// The only module that knows where registration bindings live in Redis.
//
//   {p}bind:{account}:{user}:{cid}  STRING  JSON Binding (holds the device IP); PX = granted expiry (<= 3600 s)
//   {p}aor:{account}:{user}         ZSET    cid -> expiry (ms); no IP; PEXPIREAT = latest expiry
//   {p}bindings                     ZSET    cid -> expiry (ms); no IP; counts live bindings cheaply
//   {p}bindings:nat                 ZSET    the same, for the bindings of devices behind a NAT (nat.ts)
//   {p}nc:{nonce}                   STRING  highest nonce-count seen; PX = nonce lifetime
//
// cid is a hash of (account, user, contact URI), so none of the indexes holds an address.
// Each binding has its own TTL, so a device that stops registering loses its IP an
// hour at most after its own last REGISTER, whatever the other devices of the AOR do.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { scanKeys } from '../redis.js';
import { batcherFor } from './batch.js';

export const MAX_BINDINGS_PER_AOR = 10;

export interface Binding {
  contact: string;
  sourceAddress: string;
  sourcePort: number;
  transport: string;
  userAgent: string | null;
  accountSid: string;
  aor: string;
  registeredAt: number;
  expiresAt: number;
  /** Of the REGISTER that made it (RFC 3261 10.3 ordering). */
  callId: string;
  cseq: number;
  /** A UDP device behind a NAT (nat.ts); absent in bindings written before it was recorded. */
  behindNat?: boolean;
}

export interface CurrentBinding { contact: string; expiresAt: number }

export type Change = { contact: string; expires: number };

export type StoreResult =
  | { ok: true; bindings: CurrentBinding[] }
  | { ok: false; reason: 'replayed' | 'blocked' | 'out_of_order' };

// One round trip: refuse a blocked source (KEYS[4], guard.ts; '' = no check) and a replayed
// nonce-count, apply every change, trim the AOR to MAX_BINDINGS_PER_AOR, and return what is now bound.
// Each change is four arguments: cid, TTL (ms; 0 removes), the binding's JSON, '1' if behind a NAT.
const STORE_SCRIPT = `
local aor, all, nckey, block, nat = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, nc, ncttl, bprefix, removeAll, max = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local callid, cseq = ARGV[7], tonumber(ARGV[8])
if block ~= '' and redis.call('EXISTS', block) == 1 then return {-2} end
if nc > 0 then
  local last = tonumber(redis.call('GET', nckey) or '0')
  if nc <= last then return {-1} end
  redis.call('SET', nckey, nc, 'PX', ncttl)
end
local expired = redis.call('ZRANGEBYSCORE', aor, '-inf', now)
for _, cid in ipairs(expired) do redis.call('ZREM', all, cid); redis.call('ZREM', nat, cid) end
redis.call('ZREMRANGEBYSCORE', aor, '-inf', now)
-- RFC 3261 10.3 step 7: a binding made by this Call-ID with an equal or higher CSeq means
-- this request is older than one already applied (two instances, two orders).
local function newer(cid)
  local v = redis.call('GET', bprefix .. cid)
  if not v then return false end
  local ok, b = pcall(cjson.decode, v)
  return ok and b.callId == callid and type(b.cseq) == 'number' and b.cseq >= cseq
end
if removeAll == '1' then
  for _, cid in ipairs(redis.call('ZRANGE', aor, 0, -1)) do if newer(cid) then return {-3} end end
end
local fresh = {}
for i = 9, #ARGV, 4 do
  if newer(ARGV[i]) then return {-3} end
  fresh[ARGV[i]] = true
end
local function drop(cid)
  redis.call('DEL', bprefix .. cid)
  redis.call('ZREM', aor, cid)
  redis.call('ZREM', all, cid)
  redis.call('ZREM', nat, cid)
end
if removeAll == '1' then
  for _, cid in ipairs(redis.call('ZRANGE', aor, 0, -1)) do drop(cid) end
end
for i = 9, #ARGV, 4 do
  local cid, ttl = ARGV[i], tonumber(ARGV[i + 1])
  if ttl == 0 then drop(cid) else
    redis.call('SET', bprefix .. cid, ARGV[i + 2], 'PX', ttl)
    redis.call('ZADD', aor, now + ttl, cid)
    redis.call('ZADD', all, now + ttl, cid)
    if ARGV[i + 3] == '1' then redis.call('ZADD', nat, now + ttl, cid) else redis.call('ZREM', nat, cid) end
  end
end
-- Over the limit, the soonest to expire go, never one this request just wrote.
local extra = redis.call('ZCARD', aor) - max
for _, cid in ipairs(extra > 0 and redis.call('ZRANGE', aor, 0, -1) or {}) do
  if extra == 0 then break end
  if not fresh[cid] then drop(cid); extra = extra - 1 end
end
local cur = redis.call('ZRANGE', aor, 0, -1, 'WITHSCORES')
if #cur == 0 then redis.call('DEL', aor); return {1} end
redis.call('PEXPIREAT', aor, cur[#cur])
local out = {1}
for i = 1, #cur, 2 do
  local v = redis.call('GET', bprefix .. cur[i])
  if v then out[#out + 1] = v; out[#out + 1] = cur[i + 1] end
end
return out
`;

// Read-only, one round trip: the live bindings of one AOR (at most MAX_BINDINGS_PER_AOR) as stored.
const LOCATE_SCRIPT = `
local cids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
if #cids == 0 then return {} end
for i, cid in ipairs(cids) do cids[i] = ARGV[2] .. cid end
return redis.call('MGET', unpack(cids))
`;

export interface BindingStore {
  /**
   * Apply the changes of one authenticated REGISTER; `nc` 0 skips the nonce-count check. With
   * `blockKey`, nothing is stored while that key exists ({ ok: false, reason: 'blocked' }).
   */
  store(o: {
    accountSid: string; user: string; nonce: string; nc: number; nonceTtlMs: number;
    removeAll: boolean; changes: { contact: string; ttlMs: number; binding: Binding | null }[]; now: number;
    blockKey?: string;
    /** The REGISTER's Call-ID and CSeq: an older request of the same Call-ID changes nothing. */
    callId: string; cseq: number;
  }): Promise<StoreResult>;
  list(accountSid: string, user: string, now: number): Promise<Binding[]>;
  /** The bindings of one AOR alive at `now`, most recently registered first; one round trip. */
  locate(accountSid: string, user: string, now: number): Promise<Binding[]>;
  /** Bindings alive now, at a cost that does not grow with their number. */
  countActive(now: number): Promise<number>;
  /** Of those, the bindings of devices behind a NAT. */
  countBehindNat(now: number): Promise<number>;
  /** Every binding of an account (admin listing); scans only that account's keys. */
  listAccount(accountSid: string, now: number): Promise<Binding[]>;
  removeAccount(accountSid: string): Promise<number>;
  /** Index members whose binding expired; keeps the gauge exact. */
  prune(now: number): Promise<number>;
  /** Every binding key with its remaining TTL in ms (-1: none), for the audit. */
  inspect(): AsyncIterable<{ key: string; pttl: number; sourceAddress: string | null }>;
  /** Whether a key is one of the binding keys, the only place a device IP may be. */
  isBindingKey(key: string): boolean;
}

export function createBindingStore(redis: Redis, prefix: string): BindingStore {
  const enc = encodeURIComponent;
  const aorKey = (acct: string, user: string) => `${prefix}aor:${enc(acct)}:${enc(user)}`;
  const bindPrefix = (acct: string, user: string) => `${prefix}bind:${enc(acct)}:${enc(user)}:`;
  const allKey = `${prefix}bindings`;
  const natKey = `${prefix}bindings:nat`;
  const cid = (acct: string, user: string, contact: string) =>
    createHash('sha256').update(`${acct}\n${user}\n${contact}`).digest('base64url').slice(0, 22);

  redis.defineCommand('sidecarStoreBindings', { numberOfKeys: 5, lua: STORE_SCRIPT });
  redis.defineCommand('sidecarLocate', { numberOfKeys: 1, lua: LOCATE_SCRIPT });
  // The REGISTERs of one event-loop turn share one write to Redis (batch.ts).
  const batch = batcherFor(redis);
  const run = (args: (string | number)[]) =>
    batch<(string | number)[]>((p) => (p as unknown as { sidecarStoreBindings(...a: (string | number)[]): unknown }).sidecarStoreBindings(...args));

  const readAll = async (keys: string[]): Promise<Binding[]> => {
    if (keys.length === 0) return [];
    const vals = await redis.mget(keys);
    return vals.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as Binding);
  };

  return {
    async store(o) {
      const args: (string | number)[] = [
        aorKey(o.accountSid, o.user), allKey, `${prefix}nc:${o.nonce}`, o.blockKey ?? '', natKey,
        o.now, o.nc, o.nonceTtlMs, bindPrefix(o.accountSid, o.user), o.removeAll ? '1' : '0', MAX_BINDINGS_PER_AOR,
        o.callId, o.cseq,
      ];
      // What we write comes back as written: its Contact is known without parsing it again.
      const written = new Map<string, string>();
      for (const c of o.changes) {
        const json = c.binding ? JSON.stringify(c.binding) : '';
        if (c.binding) written.set(json, c.binding.contact);
        args.push(cid(o.accountSid, o.user, c.contact), c.ttlMs, json, c.binding?.behindNat ? '1' : '0');
      }
      const out = await run(args);
      if (out[0] === -1) return { ok: false, reason: 'replayed' };
      if (out[0] === -2) return { ok: false, reason: 'blocked' };
      if (out[0] === -3) return { ok: false, reason: 'out_of_order' };
      const bindings: CurrentBinding[] = [];
      for (let i = 1; i < out.length; i += 2) {
        const json = out[i] as string;
        bindings.push({ contact: written.get(json) ?? (JSON.parse(json) as Binding).contact, expiresAt: Number(out[i + 1]) });
      }
      return { ok: true, bindings };
    },
    async list(acct, user, now) {
      const cids = await redis.zrangebyscore(aorKey(acct, user), now, '+inf');
      return readAll(cids.map((c) => bindPrefix(acct, user) + c));
    },
    async locate(acct, user, now) {
      const args = [aorKey(acct, user), now, bindPrefix(acct, user)];
      const vals = await batch<(string | null)[]>((p) => (p as unknown as { sidecarLocate(...a: (string | number)[]): unknown }).sidecarLocate(...args));
      const live: Binding[] = [];
      for (const v of vals) {
        if (v === null) continue;
        const b = JSON.parse(v) as Binding;
        // The key outlives expiresAt by the moments between our clock and Redis's: never answer past it.
        if (b.expiresAt > now) live.push(b);
      }
      return live.sort((a, b) => b.registeredAt - a.registeredAt);
    },
    async countActive(now) {
      return redis.zcount(allKey, now, '+inf');
    },
    async countBehindNat(now) {
      return redis.zcount(natKey, now, '+inf');
    },
    async listAccount(acct, now) {
      const keys = await scanKeys(redis, `${prefix}bind:${enc(acct)}:*`);
      return (await readAll(keys)).filter((b) => b.expiresAt > now);
    },
    async removeAccount(acct) {
      const binds = await scanKeys(redis, `${prefix}bind:${enc(acct)}:*`);
      const aors = await scanKeys(redis, `${prefix}aor:${enc(acct)}:*`);
      if (binds.length + aors.length === 0) return 0;
      const cids = binds.map((k) => k.slice(k.lastIndexOf(':') + 1));
      const multi = redis.multi();
      if (cids.length) multi.zrem(allKey, ...cids).zrem(natKey, ...cids);
      multi.del(...binds, ...aors);
      await multi.exec();
      return binds.length;
    },
    async prune(now) {
      const [n] = await Promise.all([redis.zremrangebyscore(allKey, '-inf', now), redis.zremrangebyscore(natKey, '-inf', now)]);
      return n;
    },
    async *inspect() {
      for (const key of await scanKeys(redis, `${prefix}bind:*`)) {
        const [[, pttl], [, raw]] = (await redis.multi().pttl(key).get(key).exec()) as [[null, number], [null, string | null]];
        if (raw === null) continue;
        let sourceAddress: string | null = null;
        try {
          sourceAddress = (JSON.parse(raw) as Binding).sourceAddress;
        } catch (err) {
          // Not ours to judge here: the audit reports the TTL, the IP scan reads the raw value.
          if (!(err instanceof SyntaxError)) throw err;
        }
        yield { key, pttl, sourceAddress };
      }
    },
    isBindingKey: (key) => key.startsWith(`${prefix}bind:`),
  };
}
