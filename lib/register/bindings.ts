// The only module that knows where registration bindings live in Redis.
//
//   {p}bind:{bN}:{account}:{user}:{cid}  STRING  JSON Binding (holds the device IP); PX = granted expiry (<= 3600 s)
//   {p}aor:{bN}:{account}:{user}         ZSET    cid -> expiry (ms); no IP; PEXPIREAT = latest expiry
//   {p}bindings:{bN}                     ZSET    cid -> expiry (ms) of shard N's bindings; no IP; counts them cheaply
//   {p}bindings:nat:{bN}                 ZSET    the same, for shard N's bindings of devices behind a NAT (nat.ts)
//   {p}nc:{bN}:{nonce}                   STRING  highest nonce-count seen for the AOR's shard; PX = nonce lifetime
//
// {bN} is the hash tag of the AOR's shard (lib/shards.ts, BINDING_SHARDS of them): every key one REGISTER
// touches shares it, so the store script runs on one slot of a Redis Cluster and updates the shard's
// index atomically with the binding. The scripts are given every key they touch, binding keys included
// (declared-keys.ts). cid is a hash of (account, user, contact URI), so none of the indexes holds an address.
// Each binding has its own TTL, so a device that stops registering loses its IP an
// hour at most after its own last REGISTER, whatever the other devices of the AOR do.
import { createHash } from 'node:crypto';
import { Cluster, type Result } from 'ioredis';
import { defineScripts, luaScript } from '../lua.js';
import { mastersOf, scanKeys, type RedisClient } from '../redis.js';
import { createShards } from '../shards.js';
import { batcherFor } from './batch.js';
import { createKeyMemory, type Reply } from './declared-keys.js';

/** Fixed: a binding's keys are named by its shard; changing it is a key migration. */
export const BINDING_SHARDS = 64;

// Their keys vary (the AOR's binding keys): the number of keys comes first.
const STORE = luaScript(__dirname, 'store-bindings.lua', 'sidecarStoreBindings', null);
const LOCATE = luaScript(__dirname, 'locate.lua', 'sidecarLocate', null);

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** store-bindings.lua: the number of keys, the keys, then ARGV */
    sidecarStoreBindings(numKeys: number, ...keysThenArgs: (string | number)[]): Result<[StoreStatus | 'keys', ...(string | null)[]], Context>;
    /** locate.lua: the number of keys, the AOR key and binding keys, now, the binding key prefix */
    sidecarLocate(numKeys: number, ...keysThenArgs: (string | number)[]): Result<['ok' | 'keys', ...(string | null)[]], Context>;
  }
}

type StoreStatus = 'ok' | 'blocked' | 'replayed' | 'out_of_order';

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
  /**
   * Moves bindings of the layout before shards (`{p}bind:{account}:{user}:{cid}`, one `{p}bindings`) into
   * their shards, each with the TTL it has left; returns how many moved. One server only (that layout
   * never ran on a cluster); run under a lock by one instance.
   */
  migrateLegacy(): Promise<number>;
}

export function createBindingStore(redis: RedisClient, prefix: string): BindingStore {
  const enc = encodeURIComponent;
  const shards = createShards('b', BINDING_SHARDS);
  // An AOR's keys, named by its shard's tag (a hash: computed once per call, not once per key).
  const keysOf = (acct: string, user: string) => {
    const tag = shards.tagOf(`${acct}\n${user}`), aor = `${enc(acct)}:${enc(user)}`;
    return {
      tag, aor: `${prefix}aor:${tag}:${aor}`, bindPrefix: `${prefix}bind:${tag}:${aor}:`,
      index: `${prefix}bindings:${tag}`, nat: `${prefix}bindings:nat:${tag}`,
    };
  };
  const indexKeys = shards.tags.map((t) => `${prefix}bindings:${t}`);
  // On a cluster the block key (the source's slot) cannot be read by the store script (the AOR's slot):
  // it is checked just before instead, one more round trip only there.
  const crossSlotBlock = redis instanceof Cluster;
  const natKeys = shards.tags.map((t) => `${prefix}bindings:nat:${t}`);
  const cid = (acct: string, user: string, contact: string) =>
    createHash('sha256').update(`${acct}\n${user}\n${contact}`).digest('base64url').slice(0, 22);

  defineScripts(redis, [STORE, LOCATE]);
  // The REGISTERs of one event-loop turn share one write to Redis (batch.ts).
  const batch = batcherFor(redis);
  const memory = createKeyMemory();

  const readAll = async (keys: string[]): Promise<Binding[]> => {
    if (keys.length === 0) return [];
    const vals = await redis.mget(keys);
    return vals.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as Binding);
  };

  return {
    async store(o) {
      if (crossSlotBlock && o.blockKey && (await batch<number>((p) => p.exists(o.blockKey!))) === 1) return { ok: false, reason: 'blocked' };
      const k = keysOf(o.accountSid, o.user);
      const aor = k.aor, bp = k.bindPrefix;
      const keys = [aor, k.index, `${prefix}nc:${k.tag}:${o.nonce}`, crossSlotBlock || !o.blockKey ? aor : o.blockKey, k.nat];
      const args: (string | number)[] = [o.now, o.nc, o.nonceTtlMs, bp, o.removeAll ? '1' : '0', MAX_BINDINGS_PER_AOR, o.callId, o.cseq];
      // What we write comes back as written: its Contact is known without parsing it again.
      const written = new Map<string, string>();
      const own: string[] = [];
      for (const c of o.changes) {
        const json = c.binding ? JSON.stringify(c.binding) : '';
        if (c.binding) written.set(json, c.binding.contact);
        own.push(cid(o.accountSid, o.user, c.contact));
        args.push(c.ttlMs, json, c.binding?.behindNat ? '1' : '0');
      }
      const out = await memory.declaring('store-bindings.lua', aor, own, (others) => {
        const all = [...keys, ...own.map((c) => bp + c), ...others.map((c) => bp + c)];
        return batch<Reply<StoreStatus | 'keys'>>((p) => p.sidecarStoreBindings(all.length, ...all, ...args));
      }, (r) => r.filter((_, i) => i % 3 === 1) as string[]);
      const status = out[0];
      if (status !== 'ok') return { ok: false, reason: status };
      const bindings: CurrentBinding[] = [];
      for (let i = 1; i < out.length; i += 3) {
        const json = out[i + 1];
        if (json === null || json === undefined) continue;
        bindings.push({ contact: written.get(json) ?? (JSON.parse(json) as Binding).contact, expiresAt: Number(out[i + 2]) });
      }
      return { ok: true, bindings };
    },
    async list(acct, user, now) {
      const k = keysOf(acct, user);
      const cids = await redis.zrangebyscore(k.aor, now, '+inf');
      return readAll(cids.map((c) => k.bindPrefix + c));
    },
    async locate(acct, user, now) {
      const { aor, bindPrefix: bp } = keysOf(acct, user);
      const out = await memory.declaring('locate.lua', aor, [], (others) =>
        batch<Reply<'ok' | 'keys'>>((p) => p.sidecarLocate(others.length + 1, aor, ...others.map((c) => bp + c), now, bp)),
      (r) => r.filter((_, i) => i % 2 === 1) as string[]);
      const live: Binding[] = [];
      for (let i = 2; i < out.length; i += 2) {
        const v = out[i];
        if (v === null || v === undefined) continue;
        const b = JSON.parse(v) as Binding;
        // The key outlives expiresAt by the moments between our clock and Redis's: never answer past it.
        if (b.expiresAt > now) live.push(b);
      }
      return live.sort((a, b) => b.registeredAt - a.registeredAt);
    },
    async countActive(now) {
      const counts = await Promise.all(indexKeys.map((k) => redis.zcount(k, now, '+inf')));
      return counts.reduce((a, b) => a + b, 0);
    },
    async countBehindNat(now) {
      const counts = await Promise.all(natKeys.map((k) => redis.zcount(k, now, '+inf')));
      return counts.reduce((a, b) => a + b, 0);
    },
    async listAccount(acct, now) {
      const keys = await scanKeys(redis, `${prefix}bind:{b*}:${enc(acct)}:*`);
      return (await readAll(keys)).filter((b) => b.expiresAt > now);
    },
    async removeAccount(acct) {
      const binds = await scanKeys(redis, `${prefix}bind:{b*}:${enc(acct)}:*`);
      const aors = await scanKeys(redis, `${prefix}aor:{b*}:${enc(acct)}:*`);
      if (binds.length + aors.length === 0) return 0;
      // One transaction per shard: its keys share a slot.
      const byTag = new Map<string, { cids: string[]; keys: string[] }>();
      const entry = (key: string) => {
        const t = key.slice(key.indexOf('{'), key.indexOf('}') + 1);
        let e = byTag.get(t);
        if (!e) byTag.set(t, (e = { cids: [], keys: [] }));
        return e;
      };
      for (const k of binds) { const e = entry(k); e.keys.push(k); e.cids.push(k.slice(k.lastIndexOf(':') + 1)); }
      for (const k of aors) entry(k).keys.push(k);
      await Promise.all([...byTag].map(([t, e]) => {
        const multi = redis.multi();
        if (e.cids.length) multi.zrem(`${prefix}bindings:${t}`, ...e.cids).zrem(`${prefix}bindings:nat:${t}`, ...e.cids);
        multi.del(...e.keys);
        return multi.exec();
      }));
      return binds.length;
    },
    async prune(now) {
      const [removed] = await Promise.all([
        Promise.all(indexKeys.map((k) => redis.zremrangebyscore(k, '-inf', now))),
        Promise.all(natKeys.map((k) => redis.zremrangebyscore(k, '-inf', now))),
      ]);
      return removed.reduce((a, b) => a + b, 0);
    },
    async migrateLegacy() {
      const node = mastersOf(redis)[0]!;
      let moved = 0;
      const aorExpiry = new Map<string, number>();
      for (const key of await scanKeys(redis, `${prefix}bind:*`)) {
        const rest = key.slice(`${prefix}bind:`.length);
        if (rest.startsWith('{')) continue;
        const [a, u, c] = rest.split(':');
        const [[, pttl], [, raw]] = (await node.multi().pttl(key).get(key).exec()) as [[null, number], [null, string | null]];
        if (!a || !u || !c || raw === null || pttl <= 0) continue;
        const acct = decodeURIComponent(a), user = decodeURIComponent(u);
        const expiry = Date.now() + pttl;
        const behindNat = (await node.zscore(`${prefix}bindings:nat`, c)) !== null;
        // Atomic per binding: it is in the old place or the new one, never both or neither.
        const k = keysOf(acct, user);
        const m = node.multi()
          .set(k.bindPrefix + c, raw, 'PX', pttl)
          .zadd(k.aor, expiry, c)
          .zadd(k.index, expiry, c);
        if (behindNat) m.zadd(k.nat, expiry, c);
        await m.del(key).exec();
        aorExpiry.set(k.aor, Math.max(expiry, aorExpiry.get(k.aor) ?? 0));
        moved++;
      }
      // The AOR lives as long as its last binding (the store script keeps it so from the next REGISTER on).
      for (const [aor, at] of aorExpiry) await node.pexpireat(aor, at);
      const oldAors = (await scanKeys(redis, `${prefix}aor:*`)).filter((k) => !k.slice(`${prefix}aor:`.length).startsWith('{'));
      await node.del(`${prefix}bindings`, `${prefix}bindings:nat`, ...oldAors);
      return moved;
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
