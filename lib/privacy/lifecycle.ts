// The lifecycle flow's moving parts: retention purge (CDRs and the admin access log) and audit on
// timers, account-change and restriction notifications, and the services the admin API calls.
import type { Redis } from 'ioredis';
import type { Config } from '../../config/index.js';
import type { CallRecorderHandle } from '../calls/recorder.js';
import type { Pool } from '../db/pool.js';
import { ACCESS_LOG_RETENTION_DAYS, purgeAccessEntries } from '../db/access-log.js';
import { DAY_MS } from '../calls/event.js';
import { createHasher, type Hasher, type Logger } from '../log.js';
import { AUDIT_CHECKS, type Metrics } from '../metrics.js';
import type { BindingStore } from '../register/bindings.js';
import { createAccountChanges } from './account-changes.js';
import { runAudit, type AuditReport } from './audit.js';
import { createHolds } from './holds.js';
import { createPrivacyService } from './privacy.js';
import { createRestrictions, RESTRICTION_SYNC_MS, RESTRICTIONS_CHANGED, type RestrictionList } from './restrictions.js';
import { createRetention } from './retention.js';

export interface LifecycleDeps {
  config: Config;
  redis: Redis;
  pool: Pool;
  bindings: BindingStore;
  recorder: CallRecorderHandle;
  /** The restricted numbers the call flow checks; kept current here. */
  restrictionList: RestrictionList;
  metrics: Metrics;
  log: Logger;
  hash: Hasher;
  /** Called for every account changed on any instance: drop cached credentials and flags. */
  onAccountChange: (accountSid: string) => void;
  now?: () => number;
}

export function createLifecycle(d: LifecycleDeps) {
  const now = d.now ?? Date.now;
  const { config, log, metrics } = d;
  const changes = createAccountChanges(d.redis, config.redis.keyPrefix, log);
  const retention = createRetention({ pool: d.pool, log, metrics, retentionDays: config.privacy.retentionDays, clock: now });
  const service = createPrivacyService({
    pool: d.pool, bindings: d.bindings, calls: d.recorder.calls, spool: d.recorder.spool, accounts: d.recorder.accounts,
    changes, forgetLocally: d.onAccountChange, metrics, log, hash: d.hash, now,
  });
  const holds = createHolds({ pool: d.pool, hash: d.hash, log, now });
  const restrictions = createRestrictions({
    pool: d.pool, list: d.restrictionList, publish: () => changes.publish(RESTRICTIONS_CHANGED),
    erase: (numbers) => service.eraseNumberEverywhere(numbers), audit: (kind, h, counts) => service.record(kind, h, counts), log, now,
  });
  const restrictionHash = config.privacy.hashKey === null ? null : createHasher(config.privacy.hashKey);
  const audit = (): Promise<AuditReport> => runAudit({
    redis: d.redis, pool: d.pool, prefix: config.redis.keyPrefix, hash: d.hash, retentionDays: config.privacy.retentionDays,
    bindings: d.bindings, isCallDataKey: (k) => d.recorder.calls.isLegKey(k) || k === d.recorder.spool.key, restrictionHash, now,
  });
  const timers: NodeJS.Timeout[] = [];

  const purge = () => retention.purge()
    .then(() => retention.measure())
    .catch((err: Error) => log.error({ err: err.message }, 'CDR retention purge failed; retried at the next interval'))
    .then(() => purgeAccessEntries(d.pool, new Date(now() - ACCESS_LOG_RETENTION_DAYS * DAY_MS)))
    .catch((err: Error) => log.error({ err: err.message }, 'admin access log purge failed; retried at the next interval'));
  const syncRestrictions = () => d.restrictionList.sync()
    .catch((err: Error) => log.warn({ err: err.message }, 'restricted numbers could not be re-read; the last list stays in use'));
  const auditNow = () => audit().then((r) => {
    for (const c of AUDIT_CHECKS) metrics.auditBreaches.set({ check: c }, r.checks[c].breaches);
    if (!r.ok) log.error({ checks: r.checks }, 'privacy audit found breaches');
    return r;
  });

  return {
    service,
    holds,
    restrictions,
    audit: auditNow,
    purge: () => retention.purge(),
    async start() {
      // Before any call is recorded: the list this instance applies.
      await syncRestrictions();
      await changes.subscribe((message) => (message === RESTRICTIONS_CHANGED ? void syncRestrictions() : d.onAccountChange(message)));
      // A message lost while Redis was away is made up for by a periodic re-read.
      timers.push(setInterval(() => void syncRestrictions(), RESTRICTION_SYNC_MS).unref());
      void purge();
      timers.push(setInterval(() => void purge(), config.privacy.retentionIntervalSeconds * 1000).unref());
      if (config.privacy.auditIntervalSeconds > 0) {
        const tick = () => auditNow().catch((err: Error) => log.error({ err: err.message }, 'privacy audit failed to run'));
        timers.push(setInterval(tick, config.privacy.auditIntervalSeconds * 1000).unref());
      }
    },
    /** Keeps the oldest-CDR gauge current for each scrape. */
    measure: () => retention.measure(),
    async close() {
      for (const t of timers) clearInterval(t);
      await changes.close();
    },
  };
}
