// Moves finished rows from the Redis spool into `cdrs`: one instance at a time (the spool lock),
// one multi-row INSERT IGNORE per batch of up to CDR_BATCH_SIZE, every CDR_FLUSH_MS or as soon as a
// full batch is waiting. At-least-once (a crash between INSERT and LTRIM re-inserts the batch) and the
// unique key (sip_callid, attempted_at) make it exactly one row. While MySQL is down rows stay in
// the spool, which survives restarts; they are written when it answers again.
import type { Pool, PoolConnection } from 'mysql2/promise';
import { insertCdrs } from '../db/cdrs.js';
import { LOCKS, withNamedLock } from '../db/locks.js';
import type { Config } from '../../config/index.js';
import type { Logger } from '../log.js';
import { createOutage } from '../outage.js';
import type { Metrics } from '../metrics.js';
import type { AccountResolver } from './account-resolver.js';
import { CDR_COLUMNS, parseSpoolRow, toSqlValues, type SqlValue } from './row.js';
import { ERASED, type Spool, type SpoolShard } from './spool.js';

export const LOCK_TTL_MS = 15_000;
/** How long the writer keeps the MySQL write lock across consecutive full batches. */
export const LOCK_SLICE_MS = 250;

export type PassResult = 'empty' | 'drained' | 'not_owner' | 'lost_lock' | 'failed';

export interface Writer {
  start(): void;
  /** A row was spooled: write early once a full batch is waiting. */
  noteSpooled(): void;
  /** One pass: write batches until the spool is empty or a batch is short. */
  pass(): Promise<PassResult>;
  /** Writes every spooled row now (as far as MySQL and the lock allow). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface WriterDeps {
  spool: Spool;
  pool: Pool;
  accounts: AccountResolver;
  metrics: Metrics;
  log: Logger;
  config: Config['cdr'];
  /** This instance's lock id. */
  owner: string;
  /**
   * Restricted numbers: re-read under the CDR write lock before each slice of batches, so a row
   * spooled by an instance that had not heard of a restriction yet is dropped here all the same.
   */
  restrictions?: { sync(db: PoolConnection): Promise<void>; restricted(fromUser: string | null, toUser: string | null): boolean };
}

/** Errors that belong to one row's data, not to the connection or the server's state. */
const isDataError = (err: unknown) => /^(22|23)/.test(String((err as { sqlState?: unknown }).sqlState ?? ''));

export function createWriter(d: WriterDeps): Writer {
  const { spool, pool, accounts, metrics, log, config, owner } = d;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<PassResult> | null = null;
  let again = false;
  let spooledSincePass = 0;
  let closed = false;
  const outage = createOutage(log, {
    lost: 'cannot write CDRs to MySQL; rows stay in the Redis spool and are retried', restored: 'CDR writes to MySQL resumed',
  });

  const insert = async (conn: PoolConnection, values: SqlValue[][]): Promise<{ written: number; refused: number }> => {
    const end = metrics.cdrBatchDuration.startTimer();
    try {
      const written = await insertCdrs(conn, CDR_COLUMNS, values);
      end();
      return { written, refused: 0 };
    } catch (err) {
      if (!isDataError(err)) throw err;
    }
    // One row the server refuses must not hold back the others: retry them one by one.
    let written = 0;
    let refused = 0;
    for (const v of values) {
      try {
        written += await insertCdrs(conn, CDR_COLUMNS, [v]);
      } catch (err) {
        if (!isDataError(err)) throw err;
        refused++;
        log.error({ err: (err as { code?: string }).code, sqlState: (err as { sqlState?: string }).sqlState }, 'MySQL refused a CDR row; dropped');
      }
    }
    end();
    return { written, refused };
  };

  const writeBatch = async (conn: PoolConnection, shard: SpoolShard, batch: string[]): Promise<boolean> => {
    const values: SqlValue[][] = [];
    const skipped = { invalid: 0, opted_out: 0, unknown_account: 0, restricted: 0 };
    for (const json of batch) {
      if (json === ERASED) continue; // an erasure's mark, removed by it a moment later
      const row = parseSpoolRow(json);
      if (!row) {
        skipped.invalid++;
        continue;
      }
      if (d.restrictions?.restricted(row.fromUser, row.toUser)) {
        skipped.restricted++;
        continue;
      }
      let sid = row.accountSid;
      if (sid === null) {
        // The leg ended while MySQL was unreachable: resolve and apply the opt-out now.
        const acct = await accounts.resolve(row.resolve!);
        if (!acct) { skipped.unknown_account++; continue; }
        if (acct.disableCdrs) { skipped.opted_out++; continue; }
        sid = acct.accountSid;
      }
      values.push(toSqlValues(row, sid));
    }
    const { written, refused } = values.length ? await insert(conn, values) : { written: 0, refused: 0 };
    const trimmed = await shard.trim(owner, LOCK_TTL_MS, batch);
    if (trimmed !== 'trimmed') return false;
    metrics.cdrsWritten.inc(written);
    skipped.invalid += refused;
    const duplicates = values.length - written - refused;
    for (const [reason, n] of Object.entries(skipped)) if (n) metrics.cdrsSkipped.inc({ reason: reason as keyof typeof skipped }, n);
    if (duplicates > 0) metrics.cdrsSkipped.inc({ reason: 'duplicate' }, duplicates);
    if (skipped.invalid) log.error({ rows: skipped.invalid }, 'unreadable or refused CDR rows dropped from the spool');
    return true;
  };

  /** Writes one shard's rows while its lock is ours. */
  const drainShard = async (shard: SpoolShard): Promise<PassResult> => {
    if (!(await shard.lock(owner, LOCK_TTL_MS))) return 'not_owner';
    for (;;) {
      // Each batch is read and written under the MySQL lock an erasure also takes, so a row
      // erased from the spool can never be inserted after the erasure deleted its account's rows.
      // The lock is kept for consecutive batches up to LOCK_SLICE_MS (taking and releasing it per
      // batch cost three round trips per INSERT), then released so an erasure waits no longer.
      const r = await withNamedLock(pool, LOCKS.cdrWrite, 30, async (conn) => {
        const until = Date.now() + LOCK_SLICE_MS;
        await d.restrictions?.sync(conn);
        for (;;) {
          const batch = await shard.head(config.batchSize);
          if (batch.length === 0) return 'empty';
          if (!(await writeBatch(conn, shard, batch))) return 'lost_lock';
          if (batch.length < config.batchSize) return 'drained';
          if (Date.now() >= until) return 'more';
        }
      });
      if (!r.locked) throw new Error(`MySQL lock ${LOCKS.cdrWrite} stayed taken for 30 s`);
      if (r.value !== 'more') return r.value;
    }
  };

  // Every shard, one after the other; the pass's result is the most telling of theirs.
  const RANK: PassResult[] = ['failed', 'lost_lock', 'drained', 'empty', 'not_owner'];
  const doPass = async (): Promise<PassResult> => {
    spooledSincePass = 0;
    try {
      // Shards are cheap to look at: only the non-empty ones are locked and written.
      const depths = await Promise.all(spool.shards.map((s) => s.depth()));
      const results: PassResult[] = [];
      for (let i = 0; i < spool.shards.length; i++) {
        if (depths[i]! > 0) results.push(await drainShard(spool.shards[i]!));
      }
      return done(RANK.find((r) => results.includes(r)) ?? 'empty');
    } catch (err) {
      if (!outage.down) outage.fail(err, { spooled: await spool.depth().catch(() => null) });
      return 'failed';
    }
  };
  const done = (r: PassResult): PassResult => {
    outage.recover();
    spool.depth().then((n) => metrics.cdrSpoolDepth.set(n), () => undefined);
    return r;
  };

  const pass = (): Promise<PassResult> => {
    if (running) {
      again = true;
      return running;
    }
    running = doPass().finally(() => {
      running = null;
      if (again && !closed) {
        again = false;
        void pass();
      }
    });
    return running;
  };

  return {
    start() {
      if (timer || closed) return;
      timer = setInterval(() => { void pass(); }, config.flushMs);
      timer.unref();
    },
    noteSpooled() {
      if (++spooledSincePass >= config.batchSize && !closed) void pass();
    },
    pass,
    async flush() {
      if (running) await running;
      for (let i = 0; i < 1000; i++) {
        const r = await pass();
        if (r !== 'lost_lock') return;
      }
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = null;
      if (running) await running;
      // Let another instance take over at once rather than after the lock expires (best effort).
      await Promise.race([spool.release(owner).catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    },
  };
}
