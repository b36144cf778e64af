// The lifecycle flow's moving parts: retention purge and audit on timers, account-change
// notifications, and the admin API route when ADMIN_TOKEN is set.
import type { Redis } from 'ioredis';
import type { Config } from '../../config/index.js';
import type { CallRecorderHandle } from '../calls/recorder.js';
import type { Pool } from '../db/pool.js';
import { createAdminRoute } from '../http/admin.js';
import type { Route } from '../http/server.js';
import type { Hasher, Logger } from '../log.js';
import { AUDIT_CHECKS, type Metrics } from '../metrics.js';
import type { BindingStore } from '../register/bindings.js';
import { createAccountChanges } from './account-changes.js';
import { runAudit, type AuditReport } from './audit.js';
import { createPrivacyService } from './privacy.js';
import { createRetention } from './retention.js';

export interface LifecycleDeps {
  config: Config;
  redis: Redis;
  pool: Pool;
  bindings: BindingStore;
  recorder: CallRecorderHandle;
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
  const audit = (): Promise<AuditReport> => runAudit({
    redis: d.redis, pool: d.pool, prefix: config.redis.keyPrefix, hash: d.hash, retentionDays: config.privacy.retentionDays,
    bindings: d.bindings, isCallDataKey: (k) => d.recorder.calls.isLegKey(k) || k === d.recorder.spool.key, now,
  });
  const timers: NodeJS.Timeout[] = [];

  const purge = () => retention.purge()
    .then(() => retention.measure())
    .catch((err: Error) => log.error({ err: err.message }, 'CDR retention purge failed; retried at the next interval'));
  const auditNow = () => audit().then((r) => {
    for (const c of AUDIT_CHECKS) metrics.auditBreaches.set({ check: c }, r.checks[c].breaches);
    if (!r.ok) log.error({ checks: r.checks }, 'privacy audit found breaches');
    return r;
  });

  return {
    service,
    audit: auditNow,
    purge: () => retention.purge(),
    route: (config.privacy.adminToken ? createAdminRoute({ token: config.privacy.adminToken, service, log, metrics, now }) : null) as Route | null,
    async start() {
      await changes.subscribe(d.onAccountChange);
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
