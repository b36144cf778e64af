// Account changes (opt-out, closure) reach every daemon instance within a Redis pub/sub
// round trip, instead of waiting for the caches' TTLs.
//
//   {p}account-changes   PUB/SUB channel; message = account_sid, or RESTRICTIONS_CHANGED
//                        (lib/privacy/restrictions.ts: re-read the restricted numbers)
import type { RedisClient } from '../redis.js';
import type { Logger } from '../log.js';

export interface AccountChanges {
  publish(accountSid: string): Promise<void>;
  /** Calls `onChange` for every account changed anywhere (this instance included). */
  subscribe(onChange: (accountSid: string) => void): Promise<void>;
  close(): Promise<void>;
}

/** `subscriber`: a connection of its own (a subscribed connection can do nothing else). */
export function createAccountChanges(o: { publisher: RedisClient; subscriber: RedisClient; prefix: string; log: Logger }): AccountChanges {
  const channel = `${o.prefix}account-changes`;
  let subscribed = false;
  return {
    async publish(accountSid) {
      await o.publisher.publish(channel, accountSid);
    },
    async subscribe(onChange) {
      o.subscriber.on('message', (ch: string, message: string) => { if (ch === channel) onChange(message); });
      // ioredis re-subscribes by itself after a reconnect.
      await o.subscriber.subscribe(channel);
      subscribed = true;
    },
    async close() {
      if (!subscribed || o.subscriber.status !== 'ready') return;
      subscribed = false;
      await o.subscriber.unsubscribe(channel).catch((err: Error) => o.log.debug({ err: err.message }, 'account-changes: unsubscribe failed'));
    },
  };
}
