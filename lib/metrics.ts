// Every metric is defined here, once. Labels are small closed sets: never a number,
// an address, a URI or a credential.
import client from 'prom-client';
import { COMPONENTS } from './errors.js';

export const REGISTER_RESULTS = [
  'ok', 'removed', 'challenged', 'stale', 'replayed', 'forbidden', 'blocked', 'too_brief', 'invalid', 'unavailable', 'error',
] as const;
export type RegisterResult = (typeof REGISTER_RESULTS)[number];

export const CDR_EVENT_TYPES = ['attempt', 'start', 'stop'] as const;
export const CDR_SKIP_REASONS = ['opted_out', 'unknown_account', 'invalid', 'duplicate', 'stop_without_attempt', 'spool_full', 'redis_unavailable', 'restricted'] as const;
export type CdrSkipReason = (typeof CDR_SKIP_REASONS)[number];
/** Legs whose end drachtio-server never reported: unanswered (CDR_ORPHAN_TIMEOUT_SECONDS), answered (CDR_CALL_STATE_TTL_SECONDS). */
export const CDR_ORPHAN_KINDS = ['unanswered', 'answered'] as const;
export type CdrOrphanKind = (typeof CDR_ORPHAN_KINDS)[number];
export const ERASURE_KINDS = ['cdrs', 'cdrs_by_number', 'registrations', 'account', 'restriction'] as const;
export type ErasureKind = (typeof ERASURE_KINDS)[number];
export const ADMIN_STATUSES = ['200', '201', '400', '401', '403', '404', '405', '409', '429', '500', '501', '503'] as const;
export const HOOK_RESULTS = ['ok', 'fail', 'timeout', 'unreachable', 'http_error', 'redirect', 'invalid_response'] as const;
export type HookResult = (typeof HOOK_RESULTS)[number];
export const LOCATION_STATUSES = ['200', '400', '401', '404', '405', '500', '503'] as const;
export const AUDIT_CHECKS = [
  'binding_ttl', 'ip_outside_binding', 'cdr_past_retention', 'cdr_while_opted_out', 'sip_body_stored', 'cdr_restricted_number',
] as const;
export type AuditCheck = (typeof AUDIT_CHECKS)[number];
export const DEPENDENCIES = ['drachtio', 'redis', 'mysql'] as const;
export type Dependency = (typeof DEPENDENCIES)[number];

export function createMetrics(version: string) {
  const registry = new client.Registry();
  const p = 'sip_sidecar_';
  const m = {
    registry,
    registerRequests: new client.Counter({
      name: `${p}register_requests_total`, help: 'REGISTER requests answered, by result',
      labelNames: ['result'] as const, registers: [registry],
    }),
    registerDuration: new client.Histogram({
      name: `${p}register_duration_seconds`, help: 'Time from receiving a REGISTER to sending its final response',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
    }),
    authFailures: new client.Counter({
      name: `${p}auth_failures_total`, help: 'Digest authentications that failed (wrong credentials, unknown user or realm)',
      registers: [registry],
    }),
    sourcesBlocked: new client.Counter({
      name: `${p}sources_blocked_total`, help: 'Times a source address was refused for repeated authentication failures',
      registers: [registry],
    }),
    bindingsActive: new client.Gauge({
      name: `${p}bindings_active`, help: 'Registration bindings currently stored (unexpired)', registers: [registry],
    }),
    bindingsBehindNat: new client.Gauge({
      name: `${p}bindings_behind_nat`, help: 'Unexpired registration bindings of UDP devices found behind a NAT', registers: [registry],
    }),
    cdrEvents: new client.Counter({
      name: `${p}cdr_events_total`, help: 'CDR events received from drachtio-server, by type',
      labelNames: ['type'] as const, registers: [registry],
    }),
    cdrsWritten: new client.Counter({
      name: `${p}cdrs_written_total`, help: 'CDR rows written to MySQL', registers: [registry],
    }),
    cdrsSkipped: new client.Counter({
      name: `${p}cdrs_skipped_total`, help: 'Call legs or events that produced no CDR row, by reason',
      labelNames: ['reason'] as const, registers: [registry],
    }),
    cdrOrphans: new client.Counter({
      name: `${p}cdr_orphans_total`, help: 'Call legs finalised without an end reported by drachtio-server, by kind',
      labelNames: ['kind'] as const, registers: [registry],
    }),
    cdrBatchDuration: new client.Histogram({
      name: `${p}cdr_batch_write_duration_seconds`, help: 'Time to write one multi-row CDR batch',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
    }),
    cdrSpoolDepth: new client.Gauge({
      name: `${p}cdr_spool_depth`, help: 'CDR rows waiting in the Redis spool for MySQL', registers: [registry],
    }),
    callsInFlight: new client.Gauge({
      name: `${p}calls_in_flight`, help: 'Call legs attempted but not yet stopped (correlation state in Redis)', registers: [registry],
    }),
    retentionRuns: new client.Counter({
      name: `${p}retention_runs_total`, help: 'CDR retention purges run, by result',
      labelNames: ['result'] as const, registers: [registry],
    }),
    retentionRowsPurged: new client.Counter({
      name: `${p}retention_rows_purged_total`, help: 'CDR rows deleted by the retention purge (batched deletes)', registers: [registry],
    }),
    retentionPartitionsDropped: new client.Counter({
      name: `${p}retention_partitions_dropped_total`, help: 'Day partitions of cdrs dropped by the retention purge', registers: [registry],
    }),
    oldestCdrAge: new client.Gauge({
      name: `${p}cdr_oldest_age_seconds`, help: 'Age of the oldest CDR row (0 when there is none)', registers: [registry],
    }),
    adminErasures: new client.Counter({
      name: `${p}admin_erasures_total`, help: 'Erasures carried out through the admin API, by kind',
      labelNames: ['kind'] as const, registers: [registry],
    }),
    adminRequests: new client.Counter({
      name: `${p}admin_requests_total`, help: 'Admin API requests answered, by HTTP status',
      labelNames: ['status'] as const, registers: [registry],
    }),
    hookRequests: new client.Counter({
      name: `${p}registration_hook_requests_total`, help: 'Calls to accounts\' registration hooks, by result (ok, fail, or why it failed)',
      labelNames: ['result'] as const, registers: [registry],
    }),
    hookDuration: new client.Histogram({
      name: `${p}registration_hook_duration_seconds`, help: 'Time from sending a registration hook request to judging its answer',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
    }),
    locationRequests: new client.Counter({
      name: `${p}location_requests_total`, help: 'Location API requests answered, by HTTP status',
      labelNames: ['status'] as const, registers: [registry],
    }),
    locationDuration: new client.Histogram({
      name: `${p}location_request_duration_seconds`, help: 'Time to answer one location API request (one AOR or a batch)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
    }),
    adminSourcesBlocked: new client.Counter({
      name: `${p}admin_sources_blocked_total`, help: 'Times a client address was refused by the admin API after repeated authentication failures',
      registers: [registry],
    }),
    accessLogDropped: new client.Counter({
      name: `${p}admin_access_log_dropped_total`, help: 'Admin access log entries lost because MySQL could not take them in time',
      registers: [registry],
    }),
    cdrsHeld: new client.Gauge({
      name: `${p}cdrs_held`, help: 'CDR rows past retention kept because a legal hold covers them (cdrs_held)', registers: [registry],
    }),
    tlsReloads: new client.Counter({
      name: `${p}tls_reloads_total`, help: 'Reloads of the HTTPS certificate and key (SIGHUP), by result',
      labelNames: ['result'] as const, registers: [registry],
    }),
    auditBreaches: new client.Gauge({
      name: `${p}audit_breaches`, help: 'Breaches of the privacy promises found by the last audit, by check',
      labelNames: ['check'] as const, registers: [registry],
    }),
    internalErrors: new client.Counter({
      name: `${p}internal_errors_total`, help: 'Bugs caught (an error that is neither an outage nor bad input), by component',
      labelNames: ['component'] as const, registers: [registry],
    }),
    up: new client.Gauge({
      name: `${p}dependency_up`, help: 'Whether a dependency is connected (1) or not (0)',
      labelNames: ['dependency'] as const, registers: [registry],
    }),
    drachtioUp: new client.Gauge({
      name: `${p}drachtio_up`, help: 'Whether the daemon is connected to this drachtio-server (1) or not (0), by its index in DRACHTIO_SERVERS',
      labelNames: ['server'] as const, registers: [registry],
    }),
    redisAof: new client.Gauge({
      name: `${p}redis_aof_enabled`, help: 'Whether the Redis server holding the CDR spool has AOF persistence on (1) or not (0), read at start',
      registers: [registry],
    }),
    cdrReplicaAckMissing: new client.Counter({
      name: `${p}cdr_replica_ack_missing_total`,
      help: 'Finished CDR legs spooled without REDIS_MIN_REPLICAS_ACK replicas confirming them within REDIS_WAIT_TIMEOUT_MS (a failover now could lose them)',
      registers: [registry],
    }),
    redisReplicas: new client.Gauge({
      name: `${p}redis_replicas`, help: 'Replicas connected to the Redis master holding the CDR spool, read at start',
      registers: [registry],
    }),
    buildInfo: new client.Gauge({
      name: `${p}build_info`, help: 'Build information; always 1', labelNames: ['version'] as const, registers: [registry],
    }),
  };
  for (const r of REGISTER_RESULTS) m.registerRequests.inc({ result: r }, 0);
  for (const t of CDR_EVENT_TYPES) m.cdrEvents.inc({ type: t }, 0);
  for (const r of CDR_SKIP_REASONS) m.cdrsSkipped.inc({ reason: r }, 0);
  for (const k of CDR_ORPHAN_KINDS) m.cdrOrphans.inc({ kind: k }, 0);
  for (const d of DEPENDENCIES) m.up.set({ dependency: d }, 0);
  for (const r of ['ok', 'failed']) m.retentionRuns.inc({ result: r }, 0);
  for (const k of ERASURE_KINDS) m.adminErasures.inc({ kind: k }, 0);
  for (const s of ADMIN_STATUSES) m.adminRequests.inc({ status: s }, 0);
  for (const s of LOCATION_STATUSES) m.locationRequests.inc({ status: s }, 0);
  for (const r of HOOK_RESULTS) m.hookRequests.inc({ result: r }, 0);
  for (const c of AUDIT_CHECKS) m.auditBreaches.set({ check: c }, 0);
  for (const r of ['ok', 'failed']) m.tlsReloads.inc({ result: r }, 0);
  for (const c of COMPONENTS) m.internalErrors.inc({ component: c }, 0);
  m.buildInfo.set({ version }, 1);
  client.collectDefaultMetrics({ register: registry, prefix: p });
  // prom-client's default set includes three gauges named *_total, which Prometheus
  // reserves for counters (promtool check metrics flags them); the same numbers are in
  // nodejs_active_{handles,requests,resources}, by type.
  for (const g of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
    registry.removeSingleMetric(`${p}nodejs_${g}`);
  }
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
