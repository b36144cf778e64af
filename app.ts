// Wiring only: config → logger → Redis, MySQL pool, Srf, metrics → createSidecar → start;
// signals → close → exit.
import { format } from 'node:util';
import Srf from 'drachtio-srf';
import { loadConfig } from './config/index.js';
import { createPool } from './lib/db/pool.js';
import { ConfigError } from './lib/errors.js';
import { createLogger } from './lib/log.js';
import { createMetrics } from './lib/metrics.js';
import { createRedisConnections } from './lib/redis.js';
import { createSidecar } from './lib/sidecar.js';
import { readVersion } from './lib/version.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sip-data-sidecar: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const log = createLogger(config.log);
  // drachtio-srf writes a message it cannot parse to console.error, raw: credentials,
  // addresses, SDP. Nothing reaches stderr unredacted; the text is kept for debug only.
  console.error = (...args: unknown[]) => {
    log.warn('a library reported an error on the console; its text is logged at debug level only');
    log.debug({ detail: format(...args) }, 'console.error');
  };
  if (config.log.level === 'debug' || config.log.level === 'trace') {
    log.warn(`LOG_LEVEL=${config.log.level}: log lines may contain SIP users and device addresses; do not keep these logs`);
  }
  const sidecar = createSidecar({
    config,
    log,
    redis: createRedisConnections(config.redis, log),
    pool: createPool(config.mysql),
    metrics: createMetrics(readVersion()),
    srfs: config.drachtio.servers.map(() => new Srf()),
    srfListener: config.drachtio.listenPort === null ? undefined : new Srf(),
  });

  let exiting = false;
  const stop = (signal: string) => {
    if (exiting) return;
    exiting = true;
    log.info({ signal }, 'signal received');
    // A hard deadline above the staged one: a SIGTERM must always end the process.
    const exit = (code: number) => {
      log.flush(() => process.exit(code));
      setTimeout(() => process.exit(code), 1000).unref();
    };
    setTimeout(() => { log.error('shutdown overran its deadline; exiting'); exit(1); }, config.shutdownTimeoutMs + 2000).unref();
    sidecar.close().then(
      () => exit(0),
      (err: Error) => { log.error({ err: err.message }, 'shutdown failed'); exit(1); },
    );
  };
  // SIGHUP: the HTTPS certificate and key are read again; the listener stays open.
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP' }, 'signal received: reloading the HTTPS certificate and key');
    void sidecar.reloadTls();
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (err) => log.error({ err: (err as Error)?.message ?? String(err) }, 'unhandled rejection'));

  await sidecar.start();
}

main().catch((err: Error) => {
  // A configuration problem found while building (an HTTPS file that does not load) exits as one found in the environment.
  if (err instanceof ConfigError) {
    process.stderr.write(`sip-data-sidecar: ${err.message}\n`);
    process.exit(78);
  }
  process.stderr.write(`sip-data-sidecar: fatal: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
