// Account changes (opt-out, closure) reach every daemon instance within a Redis pub/sub
// round trip, instead of waiting for the caches' TTLs.
//
//   {p}account-changes   PUB/SUB channel; message = account_sid
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';

export interface AccountChanges {
  publish(accountSid: string): Promise<void>;
  /** Calls `onChange` for every account changed anywhere (this instance included). */
  subscribe(onChange: (accountSid: string) => void): Promise<void>;
  close(): Promise<void>;
}

export function createAccountChanges(redis: Redis, prefix: string, log: Logger): AccountChanges {
  const channel = `${prefix}account-changes`;
  // A subscribed connection can do nothing else, so it is a connection of its own.
  const sub = redis.duplicate({ lazyConnect: true, connectionName: 'sidecar-account-changes' });
  sub.on('error', (err: Error) => log.debug({ err: err.message }, 'account-changes subscription: Redis error'));
  return {
    async publish(accountSid) {
      await redis.publish(channel, accountSid);
    },
    async subscribe(onChange) {
      sub.on('message', (ch: string, message: string) => { if (ch === channel) onChange(message); });
      // ioredis re-subscribes by itself after a reconnect.
      await sub.connect();
      await sub.subscribe(channel);
    },
    async close() {
      if (sub.status === 'ready') await sub.quit();
      else sub.disconnect();
    },
  };
}
