// The one place that reads the environment. Everything else receives a frozen Config.
import { ConfigError } from '../lib/errors.js';
import type { DigestAlgorithm } from '../lib/register/digest.js';
import { readAdminTokens, type AdminToken } from './admin.js';
import { createReader } from './read.js';

export type { AdminScope, AdminToken } from './admin.js';

export const POLICY_MAX_IP_RETENTION_SECONDS = 3600;
export const POLICY_MAX_CDR_RETENTION_DAYS = 30;

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  readonly drachtio: {
    /** Inbound mode: one connection to each, in this order (the index names it in metrics). */
    readonly servers: readonly { readonly host: string; readonly port: number }[];
    readonly secret: string;
    /** Outbound mode: drachtio-server connects here, one TCP connection per request. */
    readonly listenPort: number | null;
    readonly listenHost: string;
    readonly retryMaxDelayMs: number;
  };
  readonly redis: {
    /** Single server: the URL. Sentinel and Cluster: the password and database it carries, if any. */
    readonly url: string;
    readonly topology: RedisTopology;
    /** REDIS_PASSWORD, else the URL's password; null: none. */
    readonly password: string | null;
    readonly keyPrefix: string;
    readonly commandTimeoutMs: number;
    /** REDIS_MIN_REPLICAS_ACK; null: 1 when the server has replicas, else 0 (decided at start). */
    readonly minReplicasAck: number | null;
    readonly waitTimeoutMs: number;
  };
  readonly mysql: { readonly url: string; readonly database: string };
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** PEM files: with them the one HTTP server speaks HTTPS only (reloaded on SIGHUP). */
    readonly tls: { readonly certFile: string; readonly keyFile: string } | null;
    /** null: /metrics is open. */
    readonly metricsToken: string | null;
  };
  readonly log: { readonly level: LogLevel; readonly hashKey: string };
  readonly register: {
    readonly minExpires: number;
    readonly defaultExpires: number;
    readonly maxExpires: number;
    /** The challenges a 401 offers, one WWW-Authenticate each, in this order. */
    readonly algorithms: readonly DigestAlgorithm[];
    readonly nonceSecret: string;
    readonly nonceLifetimeSeconds: number;
    readonly credentialCacheMs: number;
    readonly authFailLimit: number;
    readonly authFailWindowSeconds: number;
    readonly authBlockSeconds: number;
    /** Grant cap of a UDP device found behind a NAT (lib/register/nat.ts); 0: no cap. */
    readonly natExpires: number;
    /** Deadline of one call to an account's registration hook. */
    readonly hookTimeoutMs: number;
  };
  readonly location: {
    /** null: the location API is off. */
    readonly token: string | null;
  };
  readonly cdr: {
    readonly batchSize: number;
    readonly flushMs: number;
    readonly spoolMax: number;
    /** An answered leg with no BYE is finalised this long after its last event (row `not-reported`). */
    readonly callStateTtlSeconds: number;
    /** An unanswered leg with no final event is finalised this long after its last event. */
    readonly orphanTimeoutSeconds: number;
    readonly accountCacheMs: number;
  };
  readonly privacy: {
    readonly retentionDays: number;
    readonly retentionIntervalSeconds: number;
    readonly auditIntervalSeconds: number;
    /** An admin request the stores have not answered by then is answered 503. */
    readonly adminRequestTimeoutMs: number;
    /** Key of the HMAC of restricted numbers; null: restrictions cannot be stored here. */
    readonly hashKey: string | null;
  };
  readonly admin: {
    /** Empty: the admin API is off. */
    readonly tokens: readonly AdminToken[];
    readonly authFailLimit: number;
    readonly authBlockSeconds: number;
  };
  readonly shutdownTimeoutMs: number;
}

export type HostPort = { readonly host: string; readonly port: number };
export type RedisTopology =
  | { readonly kind: 'single' }
  | { readonly kind: 'sentinel'; readonly sentinels: readonly HostPort[]; readonly masterName: string; readonly sentinelPassword: string | null }
  | { readonly kind: 'cluster'; readonly nodes: readonly HostPort[] };

export type Env = Record<string, string | undefined>;

/** Reads and validates every variable, then throws one ConfigError naming all bad ones. */
export function loadConfig(env: Env = process.env): Config {
  const r = createReader(env);
  const mysqlUrl = r.url('MYSQL_URL', 'mysql://root@127.0.0.1:3306/sip_sidecar', ['mysql:']);
  const database = mysqlUrl ? decodeURIComponent(new URL(mysqlUrl).pathname.slice(1)) : '';
  if (mysqlUrl && !/^[A-Za-z0-9_]{1,64}$/.test(database)) {
    r.problem('MYSQL_URL', `must name a database of letters, digits and _ (got "${database}")`);
  }
  const redisUrl = r.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']);
  const minExpires = r.int('REGISTER_MIN_EXPIRES', 60, { min: 1, max: POLICY_MAX_IP_RETENTION_SECONDS });
  const maxExpires = r.int('REGISTER_MAX_EXPIRES', 3600, { min: 1 });
  if (maxExpires > POLICY_MAX_IP_RETENTION_SECONDS) {
    r.problem('REGISTER_MAX_EXPIRES', `must be at most ${POLICY_MAX_IP_RETENTION_SECONDS}: the privacy policy keeps a device's IP address ` +
      `"for a period of one hour from the most recent successful device registration request" (got ${maxExpires})`);
  }
  const defaultExpires = r.int('REGISTER_DEFAULT_EXPIRES', 3600, { min: 1 });
  if (minExpires > maxExpires) r.problem('REGISTER_MIN_EXPIRES', `must not exceed REGISTER_MAX_EXPIRES (${minExpires} > ${maxExpires})`);

  const retentionDays = r.int('CDR_RETENTION_DAYS', POLICY_MAX_CDR_RETENTION_DAYS, { min: 1 });
  if (retentionDays > POLICY_MAX_CDR_RETENTION_DAYS) {
    r.problem('CDR_RETENTION_DAYS', `must be at most ${POLICY_MAX_CDR_RETENTION_DAYS}: the privacy policy retains usage data ` +
      `"for 30 days from the time it is created" (got ${retentionDays})`);
  }
  const callStateTtlSeconds = r.int('CDR_CALL_STATE_TTL_SECONDS', 86_400, { min: 60, max: 7 * 86_400 });
  // 200 s: beyond SIP's Timer C (180 s), after which no proxy lets an INVITE ring on.
  const orphanTimeoutSeconds = r.int('CDR_ORPHAN_TIMEOUT_SECONDS', 200, { min: 1, max: 7 * 86_400 });
  if (orphanTimeoutSeconds > callStateTtlSeconds) {
    r.problem('CDR_ORPHAN_TIMEOUT_SECONDS', `must not exceed CDR_CALL_STATE_TTL_SECONDS (${orphanTimeoutSeconds} > ${callStateTtlSeconds})`);
  }
  const adminTokens = readAdminTokens(r);
  const certFile = r.str('HTTPS_CERT_FILE', '');
  const keyFile = r.str('HTTPS_KEY_FILE', '');
  if ((certFile === '') !== (keyFile === '')) r.problem(certFile === '' ? 'HTTPS_CERT_FILE' : 'HTTPS_KEY_FILE', 'must be set together with the other of HTTPS_CERT_FILE / HTTPS_KEY_FILE');
  const metricsToken = r.str('METRICS_TOKEN', '');
  if (metricsToken !== '' && metricsToken.length < 16) r.problem('METRICS_TOKEN', 'must be at least 16 characters when set');
  const privacyHashKey = r.str('PRIVACY_HASH_KEY', '');
  if (privacyHashKey !== '' && privacyHashKey.length < 32) r.problem('PRIVACY_HASH_KEY', 'must be at least 32 characters when set');
  const locationToken = r.str('LOCATION_TOKEN', '');
  if (locationToken !== '' && locationToken.length < 16) r.problem('LOCATION_TOKEN', 'must be at least 16 characters when set');
  // One token opening both would hand every call-routing app the erasure API.
  if (locationToken !== '' && adminTokens.some((a) => a.token === locationToken)) {
    r.problem('LOCATION_TOKEN', 'must differ from every admin token (ADMIN_TOKEN, ADMIN_TOKENS)');
  }

  const config: Config = {
    drachtio: {
      servers: drachtioServers(r),
      secret: r.str('DRACHTIO_SECRET', 'cymru'),
      listenPort: r.optionalPort('DRACHTIO_LISTEN_PORT'),
      listenHost: r.str('DRACHTIO_LISTEN_HOST', '0.0.0.0'),
      retryMaxDelayMs: r.int('DRACHTIO_RETRY_MAX_DELAY_MS', 5000, { min: 100, max: 300_000 }),
    },
    redis: {
      url: redisUrl,
      topology: redisTopology(r),
      password: r.str('REDIS_PASSWORD', '') || (redisUrl ? decodeURIComponent(new URL(redisUrl).password) : '') || null,
      keyPrefix: r.match('REDIS_KEY_PREFIX', 'sidecar:', /^[A-Za-z0-9_:.-]{1,64}$/, 'letters, digits and _ : . - (at most 64)'),
      commandTimeoutMs: r.int('REDIS_COMMAND_TIMEOUT_MS', 1000, { min: 50, max: 60_000 }),
      minReplicasAck: r.isSet('REDIS_MIN_REPLICAS_ACK') ? r.int('REDIS_MIN_REPLICAS_ACK', 0, { min: 0, max: 16 }) : null,
      waitTimeoutMs: r.int('REDIS_WAIT_TIMEOUT_MS', 500, { min: 10, max: 60_000 }),
    },
    mysql: { url: mysqlUrl, database },
    http: {
      host: r.str('HTTP_HOST', '127.0.0.1'),
      port: r.port('HTTP_PORT', 3000),
      tls: certFile === '' || keyFile === '' ? null : { certFile, keyFile },
      metricsToken: metricsToken === '' ? null : metricsToken,
    },
    log: {
      level: r.oneOf('LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
      hashKey: r.str('LOG_HASH_KEY', ''),
    },
    register: {
      minExpires,
      defaultExpires: Math.min(defaultExpires, maxExpires),
      maxExpires,
      // MD5 first: sipp and many deployed phones answer the first challenge they read, and fail when it is SHA-256.
      algorithms: r.listOf('REGISTER_DIGEST_ALGORITHMS', ['MD5', 'SHA-256'], ['MD5', 'SHA-256'] as const),
      nonceSecret: r.str('NONCE_SECRET', ''),
      nonceLifetimeSeconds: r.int('NONCE_LIFETIME_SECONDS', 300, { min: 10, max: 86_400 }),
      credentialCacheMs: r.int('CREDENTIAL_CACHE_MS', 5000, { min: 0, max: 60_000 }),
      authFailLimit: r.int('AUTH_FAIL_LIMIT', 10, { min: 1, max: 10_000 }),
      authFailWindowSeconds: r.int('AUTH_FAIL_WINDOW_SECONDS', 60, { min: 1, max: POLICY_MAX_IP_RETENTION_SECONDS }),
      authBlockSeconds: r.int('AUTH_BLOCK_SECONDS', 300, { min: 1, max: POLICY_MAX_IP_RETENTION_SECONDS }),
      natExpires: r.int('REGISTER_NAT_EXPIRES', 30, { min: 0, max: POLICY_MAX_IP_RETENTION_SECONDS }),
      hookTimeoutMs: r.int('REGISTRATION_HOOK_TIMEOUT_MS', 2000, { min: 100, max: 10_000 }),
    },
    location: { token: locationToken === '' ? null : locationToken },
    cdr: {
      batchSize: r.int('CDR_BATCH_SIZE', 200, { min: 1, max: 5000 }),
      flushMs: r.int('CDR_FLUSH_MS', 1000, { min: 10, max: 1000 }),
      spoolMax: r.int('CDR_SPOOL_MAX', 100_000, { min: 1, max: 10_000_000 }),
      callStateTtlSeconds,
      orphanTimeoutSeconds,
      accountCacheMs: r.int('CDR_ACCOUNT_CACHE_MS', 2000, { min: 0, max: 5000 }),
    },
    privacy: {
      retentionDays,
      retentionIntervalSeconds: r.int('RETENTION_INTERVAL_SECONDS', 3600, { min: 10, max: 86_400 }),
      auditIntervalSeconds: r.int('AUDIT_INTERVAL_SECONDS', 3600, { min: 0, max: 7 * 86_400 }),
      adminRequestTimeoutMs: r.int('ADMIN_REQUEST_TIMEOUT_MS', 30_000, { min: 100, max: 600_000 }),
      hashKey: privacyHashKey === '' ? null : privacyHashKey,
    },
    admin: {
      tokens: adminTokens,
      authFailLimit: r.int('ADMIN_AUTH_FAIL_LIMIT', 10, { min: 1, max: 10_000 }),
      authBlockSeconds: r.int('ADMIN_AUTH_BLOCK_SECONDS', 300, { min: 1, max: 86_400 }),
    },
    shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 10_000, { min: 100, max: 120_000 }),
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return deepFreeze(config);
}

/**
 * REDIS_SENTINELS (with REDIS_SENTINEL_MASTER_NAME / REDIS_SENTINEL_PASSWORD), or REDIS_CLUSTER_NODES (seed
 * nodes); neither: the one server of REDIS_URL.
 */
function redisTopology(r: ReturnType<typeof createReader>): RedisTopology {
  const sentinels = r.hostPorts('REDIS_SENTINELS');
  const masterName = r.match('REDIS_SENTINEL_MASTER_NAME', 'mymaster', /^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits and _ . - (at most 64)');
  const sentinelPassword = r.str('REDIS_SENTINEL_PASSWORD', '') || null;
  const nodes = r.hostPorts('REDIS_CLUSTER_NODES');
  if (r.isSet('REDIS_CLUSTER_NODES') && r.isSet('REDIS_SENTINELS')) {
    r.problem('REDIS_CLUSTER_NODES', 'cannot be combined with REDIS_SENTINELS (a Redis Cluster has no sentinels); set one or the other');
  }
  if (sentinels) return { kind: 'sentinel', sentinels, masterName, sentinelPassword };
  if (nodes) return { kind: 'cluster', nodes };
  return { kind: 'single' };
}

/** DRACHTIO_SERVERS=host:port,… or, for one server, DRACHTIO_HOST and DRACHTIO_PORT; not both. */
function drachtioServers(r: ReturnType<typeof createReader>): { host: string; port: number }[] {
  const one = { host: r.str('DRACHTIO_HOST', '127.0.0.1'), port: r.port('DRACHTIO_PORT', 9022) };
  const list = r.hostPorts('DRACHTIO_SERVERS');
  if (list === null) return [one];
  if (r.isSet('DRACHTIO_HOST') || r.isSet('DRACHTIO_PORT')) {
    r.problem('DRACHTIO_SERVERS', 'cannot be combined with DRACHTIO_HOST/DRACHTIO_PORT (their one-server shorthand); set one or the other');
  }
  return list;
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v as object);
  return Object.freeze(o);
}
