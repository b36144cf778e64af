// Every error the daemon raises on purpose lives here, so callers can branch with
// `instanceof` and operators can grep one stable `code`.

export class SidecarError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One or more environment variables are invalid; `problems` names each one. */
export class ConfigError extends SidecarError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('ERR_CONFIG', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** A store the daemon needs (Redis, MySQL) could not be reached or refused the work. */
export class StoreUnavailableError extends SidecarError {
  readonly store: 'redis' | 'mysql';
  constructor(store: 'redis' | 'mysql', message: string, options?: { cause?: unknown }) {
    super(store === 'redis' ? 'ERR_REDIS_UNAVAILABLE' : 'ERR_MYSQL_UNAVAILABLE', message, options);
    this.store = store;
  }
}

/** A request a client sent is wrong; `status` is the 4xx that says so. */
export class BadInputError extends SidecarError {
  readonly status: number;
  constructor(message: string, o: { status?: number; code?: string } = {}) {
    super(o.code ?? 'bad_request', message);
    this.status = o.status ?? 400;
  }
}

/** A schema migration failed; the daemon must not serve on a half-migrated schema. */
export class MigrationError extends SidecarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_MIGRATION', message, options);
  }
}

/** Shutdown did not finish within SHUTDOWN_TIMEOUT_MS. */
export class ShutdownTimeoutError extends SidecarError {
  constructor(stage: string, timeoutMs: number) {
    super('ERR_SHUTDOWN_TIMEOUT', `shutdown stage "${stage}" did not finish within ${timeoutMs} ms (SHUTDOWN_TIMEOUT_MS)`);
  }
}
