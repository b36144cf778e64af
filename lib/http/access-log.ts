// The admin access log: one entry per admin request, written to MySQL in small batches off the
// request path. While MySQL cannot take them, entries wait in memory (at most MAX_PENDING; beyond,
// the oldest are dropped and counted in admin_access_log_dropped_total) and are written when it
// answers. Entries name no number, account, token or address in clear: keyed hashes only.
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool } from 'mysql2/promise';
import {
  ACCESS_LOG_COLUMNS, ACCESS_LOG_RETENTION_DAYS, insertAccessEntries, purgeAccessEntries, streamAccessEntries, type AccessEntry,
} from '../db/access-log.js';
import { DAY_MS } from '../time.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

export type { AccessEntry };

export const MAX_PENDING = 10_000;
const FLUSH_MS = 500;

export interface AccessLog {
  record(e: AccessEntry): void;
  /** Writes what is pending now (as far as MySQL allows). */
  flush(): Promise<void>;
  /** Streams the entries in [since, until) as NDJSON; the count. */
  export(since: Date, until: Date, out: Writable): Promise<number>;
  /** Deletes the entries older than ACCESS_LOG_RETENTION_DAYS. */
  purge(now: number): Promise<number>;
  close(): Promise<void>;
}

export function createAccessLog(d: { pool: Pool; log: Logger; metrics: Metrics }): AccessLog {
  let pending: AccessEntry[] = [];
  let writing: Promise<void> | null = null;
  let failing = false;
  let closed = false;
  const timer = setInterval(() => { void flush(); }, FLUSH_MS).unref();

  const writeOnce = async () => {
    while (pending.length) {
      const batch = pending.slice(0, 500);
      try {
        await insertAccessEntries(d.pool, batch);
      } catch (err) {
        if (!failing) d.log.error({ err: (err as Error).message, pending: pending.length }, 'admin access log: MySQL refused the entries; kept in memory and retried');
        failing = true;
        return;
      }
      pending = pending.slice(batch.length);
      if (failing) d.log.info('admin access log: writes resumed');
      failing = false;
    }
  };
  const flush = (): Promise<void> => {
    writing ??= writeOnce().finally(() => { writing = null; });
    return writing;
  };

  return {
    record(e) {
      if (closed) d.log.warn({ route: e.route, status: e.status }, 'admin access log: entry after close');
      pending.push(e);
      if (pending.length > MAX_PENDING) {
        const lost = pending.length - MAX_PENDING;
        pending = pending.slice(lost);
        d.metrics.accessLogDropped.inc(lost);
        d.log.error({ lost }, 'admin access log: entries dropped, MySQL has not taken them for too long');
      }
    },
    flush: async () => {
      await writing;
      await flush();
    },
    async export(since, until, out) {
      let n = 0;
      const encode = new Transform({
        writableObjectMode: true,
        transform(raw: Record<string, unknown>, _enc, cb) {
          n++;
          const row = Object.fromEntries(ACCESS_LOG_COLUMNS.map((c) => {
            const v = raw[c];
            return [c, v instanceof Date ? v.toISOString() : c === 'counts' && typeof v === 'string' ? JSON.parse(v) : v];
          }));
          cb(null, `${JSON.stringify(row)}\n`);
        },
      });
      await pipeline(streamAccessEntries(d.pool, since, until), encode, out);
      return n;
    },
    purge: (now) => purgeAccessEntries(d.pool, new Date(now - ACCESS_LOG_RETENTION_DAYS * DAY_MS)),
    async close() {
      closed = true;
      clearInterval(timer);
      await this.flush();
      if (pending.length) {
        d.metrics.accessLogDropped.inc(pending.length);
        d.log.error({ lost: pending.length }, 'admin access log: entries MySQL did not take before shutdown were lost');
      }
    },
  };
}
