// The lifecycle flow's moving parts: retention purge (CDRs and the admin access log) and audit on
// timers, account-change and restriction notifications, and the services the admin API calls. It runs on stores of its own (the
// privacy Redis connection), so a slow scan never queues behind REGISTERs or call events.
import type { RedisClient } from '../redis.js';
import type { Config } from '../../config/index.js';
import type { Pool } from '../db/pool.js';
import { reportFailure } from '../errors.js';
import { ACCESS_LOG_RETENTION_DAYS, purgeAccessEntries } from '../db/access-log.js';
import { createHasher, type Hasher, type Logger } from '../log.js';
import { AUDIT_CHECKS, type Metrics } from '../metrics.js';
import { DAY_MS, SECOND_MS } from '../time.js';
import { createAccountChanges } from './account-changes.js';
import { runAudit, type AuditDeps, type AuditReport } from './audit.js';
import { createHolds, type Holds } from './holds.js';
import { createPrivacyService } from './privacy.js';
import { createRestrictions, RESTRICTION_SYNC_MS, RESTRICTIONS_CHANGED, type RestrictionList, type Restrictions } from './restrictions.js';
import { createRetention } from './retention.js';
import type { PrivacyService, PrivacyStores } from './service.js';

export interface LifecycleDeps {
  config: Config['privacy'];
  prefix: string;
  /** The privacy connection: erasures, the audit's scans, publishing account changes. */
  redis: RedisClient;
  /** A connection for the account-change subscription alone. */
  subscriber: RedisClient;
  pool: Pool;
  stores: PrivacyStores & Pick<AuditDeps, 'bindings' | 'isCallDataKey'>;
  /** The restricted numbers the call flow checks; kept current here. */
  restrictionList: RestrictionList;
  metrics: Metrics;
  log: Logger;
  hash: Hasher;
  /** Called for every account changed on any instance: drop cached credentials and flags. */
  onAccountChange: (accountSid: string) => void;
  now?: () => number;
}

export interface Lifecycle {
  readonly service: PrivacyService;
  readonly holds: Holds;
  readonly restrictions: Restrictions;
  audit(): Promise<AuditReport>;
  start(): Promise<void>;
  /** Keeps the oldest-CDR gauge current for each scrape. */
  measure(): Promise<number>;
  close(): Promise<void>;
}

export function createLifecycle(d: LifecycleDeps): Lifecycle {
  const now = d.now ?? Date.now;
  const { config, log, metrics } = d;
  const changes = createAccountChanges({ publisher: d.redis, subscriber: d.subscriber, prefix: d.prefix, log });
  const retention = createRetention({ pool: d.pool, log, metrics, retentionDays: config.retentionDays, clock: now });
  const service = createPrivacyService({ ...d.stores, pool: d.pool, changes, forgetLocally: d.onAccountChange, metrics, log, hash: d.hash, now,
    exportStallMs: config.adminRequestTimeoutMs,
  });
  const holds = createHolds({ pool: d.pool, hash: d.hash, log, now, exportStallMs: config.adminRequestTimeoutMs });
  const restrictions = createRestrictions({
    pool: d.pool, list: d.restrictionList, publish: () => changes.publish(RESTRICTIONS_CHANGED),
    erase: (numbers) => service.eraseNumberEverywhere(numbers), audit: (kind, h, counts) => service.record(kind, h, counts), log, now,
  });
  const restrictionHash = config.hashKey === null ? null : createHasher(config.hashKey);
  const timers: NodeJS.Timeout[] = [];

  const purge = () => retention.purge()
    .then(() => retention.measure())
    .catch((err: unknown) => reportFailure(d, 'lifecycle', err, 'CDR retention purge failed; retried at the next interval'))
    .then(() => purgeAccessEntries(d.pool, new Date(now() - ACCESS_LOG_RETENTION_DAYS * DAY_MS)))
    .catch((err: unknown) => reportFailure(d, 'lifecycle', err, 'admin access log purge failed; retried at the next interval'));
  const syncRestrictions = () => d.restrictionList.sync()
    .catch((err: unknown) => reportFailure(d, 'lifecycle', err, 'restricted numbers could not be re-read; the last list stays in use'));
  const audit = () => runAudit({
    redis: d.redis, pool: d.pool, prefix: d.prefix, hash: d.hash, retentionDays: config.retentionDays,
    bindings: d.stores.bindings, isCallDataKey: d.stores.isCallDataKey, restrictionHash, now,
  }).then((r) => {
    for (const c of AUDIT_CHECKS) metrics.auditBreaches.set({ check: c }, r.checks[c].breaches);
    if (!r.ok) log.error({ checks: r.checks }, 'privacy audit found breaches');
    return r;
  });

  return {
    service,
    holds,
    restrictions,
    audit,
    async start() {
      // Before any call is recorded: the list this instance applies.
      await syncRestrictions();
      await changes.subscribe((message) => (message === RESTRICTIONS_CHANGED ? void syncRestrictions() : d.onAccountChange(message)));
      // A message lost while Redis was away is made up for by a periodic re-read.
      timers.push(setInterval(() => void syncRestrictions(), RESTRICTION_SYNC_MS).unref());
      void purge();
      timers.push(setInterval(() => void purge(), config.retentionIntervalSeconds * SECOND_MS).unref());
      if (config.auditIntervalSeconds > 0) {
        const tick = () => audit().catch((err: unknown) => reportFailure(d, 'lifecycle', err, 'privacy audit failed to run'));
        timers.push(setInterval(tick, config.auditIntervalSeconds * SECOND_MS).unref());
      }
    },
    measure: () => retention.measure(),
    async close() {
      for (const t of timers) clearInterval(t);
      await changes.close();
    },
  };
}
