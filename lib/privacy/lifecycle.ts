// The lifecycle flow's moving parts: retention purge and audit on timers, account-change
// notifications, and the privacy service the admin API calls. It runs on stores of its own (the
// privacy Redis connection), so a slow scan never queues behind REGISTERs or call events.
import type { Redis } from 'ioredis';
import type { Config } from '../../config/index.js';
import type { Pool } from '../db/pool.js';
import { reportFailure } from '../errors.js';
import type { Hasher, Logger } from '../log.js';
import { AUDIT_CHECKS, type Metrics } from '../metrics.js';
import { SECOND_MS } from '../time.js';
import { createAccountChanges } from './account-changes.js';
import { runAudit, type AuditDeps, type AuditReport } from './audit.js';
import { createPrivacyService } from './privacy.js';
import { createRetention } from './retention.js';
import type { PrivacyService, PrivacyStores } from './service.js';

export interface LifecycleDeps {
  config: Config['privacy'];
  prefix: string;
  /** The privacy connection: erasures, the audit's scans, publishing account changes. */
  redis: Redis;
  /** A connection for the account-change subscription alone. */
  subscriber: Redis;
  pool: Pool;
  stores: PrivacyStores & Pick<AuditDeps, 'bindings' | 'isCallDataKey'>;
  metrics: Metrics;
  log: Logger;
  hash: Hasher;
  /** Called for every account changed on any instance: drop cached credentials and flags. */
  onAccountChange: (accountSid: string) => void;
  now?: () => number;
}

export interface Lifecycle {
  readonly service: PrivacyService;
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
  const service = createPrivacyService({ ...d.stores, pool: d.pool, changes, forgetLocally: d.onAccountChange, metrics, log, hash: d.hash, now });
  const timers: NodeJS.Timeout[] = [];

  const purge = () => retention.purge()
    .then(() => retention.measure())
    .catch((err: unknown) => reportFailure(d, 'lifecycle', err, 'CDR retention purge failed; retried at the next interval'));
  const audit = () => runAudit({
    redis: d.redis, pool: d.pool, prefix: d.prefix, hash: d.hash, retentionDays: config.retentionDays,
    bindings: d.stores.bindings, isCallDataKey: d.stores.isCallDataKey, now,
  }).then((r) => {
    for (const c of AUDIT_CHECKS) metrics.auditBreaches.set({ check: c }, r.checks[c].breaches);
    if (!r.ok) log.error({ checks: r.checks }, 'privacy audit found breaches');
    return r;
  });

  return {
    service,
    audit,
    async start() {
      await changes.subscribe(d.onAccountChange);
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
