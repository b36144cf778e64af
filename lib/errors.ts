// Every error, sorted by kind, so that no outage passes for a bug nor a bug for an outage:
//   unavailable  a store (Redis, MySQL) cannot be reached, timed out or refused the work for now:
//                answered 503 with Retry-After, or retried; counted where it happens
//   bad_input    what a client sent is wrong: answered 4xx with a message
//   bug          anything else (a TypeError, an SQL syntax error, a Lua error): answered 500 or the
//                event dropped, logged at error with the stack, counted in internal_errors_total
// Errors the daemon raises on purpose are classes here with a stable `code`; errors from the store
// clients (ioredis, mysql2) are sorted by errorKind().
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export type ErrorKind = 'unavailable' | 'bad_input' | 'bug';

export class SidecarError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.kind = kind;
    this.code = code;
  }
}

/** One or more environment variables are invalid; `problems` names each one. */
export class ConfigError extends SidecarError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('bad_input', 'ERR_CONFIG', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

export type Store = 'redis' | 'mysql';

/** A store the daemon needs (Redis, MySQL) could not be reached, timed out or refused the work for now. */
export class StoreUnavailableError extends SidecarError {
  readonly store: Store;
  constructor(store: Store, message: string, options?: { cause?: unknown }) {
    super('unavailable', store === 'redis' ? 'ERR_REDIS_UNAVAILABLE' : 'ERR_MYSQL_UNAVAILABLE', message, options);
    this.store = store;
  }
}

/** The stores did not answer a request within its deadline (a server that accepted the work and went silent). */
export class DeadlineError extends SidecarError {
  constructor(what: string, ms: number) {
    super('unavailable', 'ERR_DEADLINE', `${what} got no answer from the stores within ${ms} ms`);
  }
}

/**
 * A script that must be given every key it touches (Redis Cluster) found, attempt after attempt, keys it was
 * not given: the data changed under it faster than it could be retried. Worth a retry later, like an outage.
 */
export class UndeclaredKeysError extends SidecarError {
  constructor(what: string, attempts: number) {
    super('unavailable', 'ERR_UNDECLARED_KEYS', `${what}: still finding keys it was not given after ${attempts} attempts`);
  }
}

/** A request a client sent is wrong; `status` is the 4xx that says so. */
export class BadInputError extends SidecarError {
  readonly status: number;
  constructor(message: string, o: { status?: number; code?: string } = {}) {
    super('bad_input', o.code ?? 'bad_request', message);
    this.status = o.status ?? 400;
  }
}

/** A schema migration failed; the daemon must not serve on a half-migrated schema. */
export class MigrationError extends SidecarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('bug', 'ERR_MIGRATION', message, options);
  }
}

/** Shutdown did not finish within SHUTDOWN_TIMEOUT_MS. */
export class ShutdownTimeoutError extends SidecarError {
  constructor(stage: string, timeoutMs: number) {
    super('unavailable', 'ERR_SHUTDOWN_TIMEOUT', `shutdown stage "${stage}" did not finish within ${timeoutMs} ms (SHUTDOWN_TIMEOUT_MS)`);
  }
}

// ioredis: a command that timed out, a connection closed or not writable, retries given up.
// A Redis Cluster adds its own: a slot without a master (CLUSTERDOWN, TRYAGAIN during a failover), a slot moved
// under a pipeline (MOVED/ASK, which ioredis redirects for lone commands only: retried once it knows), the client
// between slot tables, a replica still loading the data it is about to serve.
const REDIS_DOWN = /^(Command timed out|Connection is closed\.|Stream isn't writeable|Reached the max retries per request limit|CLUSTERDOWN|TRYAGAIN|LOADING|MOVED |ASK |Cluster isn't ready|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes is available)/;
// mysql2 and node: the server or the path to it is gone, slow or full — not the statement's fault.
const MYSQL_DOWN_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'ER_CON_COUNT_ERROR', 'ER_TOO_MANY_USER_CONNECTIONS', 'ER_SERVER_SHUTDOWN', 'ER_LOCK_WAIT_TIMEOUT', 'ER_LOCK_DEADLOCK',
  'ER_QUERY_INTERRUPTED', 'ER_OPTION_PREVENTS_STATEMENT', 'ER_READ_ONLY_MODE',
]);
const MYSQL_POOL_DOWN = /^(Pool is closed\.|Queue limit reached\.)/;

/** Which kind an error is: ours by its class, a store client's by what it means. */
export function errorKind(err: unknown): ErrorKind {
  if (err instanceof SidecarError) return err.kind;
  const e = err as { name?: unknown; message?: unknown; code?: unknown; sqlState?: unknown; fatal?: unknown } | null;
  if (!e || typeof e !== 'object') return 'bug';
  if (e.name === 'MaxRetriesPerRequestError') return 'unavailable';
  const message = typeof e.message === 'string' ? e.message : '';
  if (REDIS_DOWN.test(message) || MYSQL_POOL_DOWN.test(message)) return 'unavailable';
  if (typeof e.code === 'string' && MYSQL_DOWN_CODES.has(e.code)) return 'unavailable';
  if (e.fatal === true) return 'unavailable'; // mysql2: the connection is unusable, whatever the code
  // SQLSTATE class 22 (data exception) and 23 (integrity constraint): the data was refused.
  if (typeof e.sqlState === 'string' && /^2[23]/.test(e.sqlState)) return 'bad_input';
  return 'bug';
}

/**
 * The error to throw on: an unavailable store error becomes a StoreUnavailableError naming `store`
 * (so callers branch on one class); any other is returned as it is.
 */
export function storeError(store: Store, err: unknown): unknown {
  if (err instanceof SidecarError || errorKind(err) !== 'unavailable') return err;
  return new StoreUnavailableError(store, `${store === 'redis' ? 'Redis' : 'MySQL'}: ${(err as Error).message}`, { cause: err });
}

/** Runs `work`, turning its store outages into StoreUnavailableError(store). */
export async function onStore<T>(store: Store, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw storeError(store, err);
  }
}

export const COMPONENTS = ['register', 'cdr', 'admin', 'location', 'http', 'lifecycle'] as const;
export type Component = (typeof COMPONENTS)[number];

/** A bug: logged at error with its stack and counted, so it is never mistaken for an outage. */
export function reportBug(d: { log: Logger; metrics: Metrics }, component: Component, err: unknown, msg: string, fields: Record<string, unknown> = {}): void {
  d.metrics.internalErrors.inc({ component });
  const e = err as Error;
  d.log.error({ ...fields, component, err: { name: e?.name, message: e?.message ?? String(err), stack: e?.stack } }, msg);
}

/** A failure of background work: a bug is reported as one (stack, counted), an outage as an error line. */
export function reportFailure(d: { log: Logger; metrics: Metrics }, component: Component, err: unknown, msg: string, fields: Record<string, unknown> = {}): void {
  if (errorKind(err) === 'bug') reportBug(d, component, err, msg, fields);
  else d.log.error({ ...fields, err: errorSummary(err) }, msg);
}

/** name, code and message of an error, for a log line (no stack: this is for expected failures). */
export function errorSummary(err: unknown): { name: string; code?: string; message: string } {
  const e = err as { name?: string; code?: unknown; message?: string };
  return { name: e?.name ?? 'Error', code: typeof e?.code === 'string' ? e.code : undefined, message: e?.message ?? String(err) };
}
