// The only module that knows where registration bindings live in Redis.
//
//   {p}bind:{account}:{user}:{cid}  STRING  JSON Binding (holds the device IP); PX = granted expiry (<= 3600 s)
//   {p}aor:{account}:{user}         ZSET    cid -> expiry (ms); no IP; PEXPIREAT = latest expiry
//   {p}bindings                     ZSET    cid -> expiry (ms); no IP; counts live bindings cheaply
//   {p}nc:{nonce}                   STRING  highest nonce-count seen; PX = nonce lifetime
//
// cid is a hash of (account, user, contact URI), so none of the indexes holds an address.
// Each binding has its own TTL, so a device that stops registering loses its IP an
// hour at most after its own last REGISTER, whatever the other devices of the AOR do.
import { createHash } from 'node:crypto';
import type { Redis, Result } from 'ioredis';
import { defineScripts, luaScript } from '../lua.js';
import { scanKeys } from '../redis.js';
import { batcherFor } from './batch.js';

const STORE = luaScript(__dirname, 'store-bindings.lua', 'sidecarStoreBindings', 4);

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** store-bindings.lua */
    sidecarStoreBindings(...args: (string | number)[]): Result<[StoreStatus, ...string[]], Context>;
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
  /** Bindings alive now, at a cost that does not grow with their number. */
  countActive(now: number): Promise<number>;
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
  const cid = (acct: string, user: string, contact: string) =>
    createHash('sha256').update(`${acct}\n${user}\n${contact}`).digest('base64url').slice(0, 22);

  defineScripts(redis, [STORE]);
  // The REGISTERs of one event-loop turn share one write to Redis (batch.ts).
  const batch = batcherFor(redis);
  const run = (args: (string | number)[]) =>
    batch<[StoreStatus, ...string[]]>((p) => p.sidecarStoreBindings(...args));

  const readAll = async (keys: string[]): Promise<Binding[]> => {
    if (keys.length === 0) return [];
    const vals = await redis.mget(keys);
    return vals.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as Binding);
  };

  return {
    async store(o) {
      const args: (string | number)[] = [
        aorKey(o.accountSid, o.user), allKey, `${prefix}nc:${o.nonce}`, o.blockKey ?? '',
        o.now, o.nc, o.nonceTtlMs, bindPrefix(o.accountSid, o.user), o.removeAll ? '1' : '0', MAX_BINDINGS_PER_AOR,
        o.callId, o.cseq,
      ];
      // What we write comes back as written: its Contact is known without parsing it again.
      const written = new Map<string, string>();
      for (const c of o.changes) {
        const json = c.binding ? JSON.stringify(c.binding) : '';
        if (c.binding) written.set(json, c.binding.contact);
        args.push(cid(o.accountSid, o.user, c.contact), c.ttlMs, json);
      }
      const out = await run(args);
      const status = out[0];
      if (status !== 'ok') return { ok: false, reason: status };
      const bindings: CurrentBinding[] = [];
      for (let i = 1; i < out.length; i += 2) {
        const json = out[i]!;
        bindings.push({ contact: written.get(json) ?? (JSON.parse(json) as Binding).contact, expiresAt: Number(out[i + 1]) });
      }
      return { ok: true, bindings };
    },
    async list(acct, user, now) {
      const cids = await redis.zrangebyscore(aorKey(acct, user), now, '+inf');
      return readAll(cids.map((c) => bindPrefix(acct, user) + c));
    },
    async countActive(now) {
      return redis.zcount(allKey, now, '+inf');
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
      if (cids.length) multi.zrem(allKey, ...cids);
      multi.del(...binds, ...aors);
      await multi.exec();
      return binds.length;
    },
    async prune(now) {
      return redis.zremrangebyscore(allKey, '-inf', now);
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
