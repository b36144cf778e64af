// npm run audit — inspects the live Redis and MySQL named by the daemon's own variables
// and reports every breach of the privacy promises: JSON on stdout, a summary on stderr.
// Exit 0: none; 1: breaches found; 2: the audit could not run. Fit for cron and CI.
import { loadConfig } from '../../config/index.js';
import { createCallState } from '../calls/correlate.js';
import { createSpool } from '../calls/spool.js';
import { createPool } from '../db/pool.js';
import { ConfigError } from '../errors.js';
import { createHasher, createLogger } from '../log.js';
import { runAudit, summarise } from '../privacy/audit.js';
import { openRedis } from '../redis.js';
import { createBindingStore } from '../register/bindings.js';

async function main(): Promise<number> {
  const config = loadConfig();
  const log = createLogger({ ...config.log, level: 'error' });
  const redis = openRedis(config.redis, log, 'privacy');
  const pool = createPool(config.mysql, 2);
  try {
    await redis.connect();
    const prefix = config.redis.keyPrefix;
    const calls = createCallState(redis, prefix, config.cdr.callStateTtlSeconds);
    const spool = createSpool(redis, prefix, config.cdr.spoolMax);
    const report = await runAudit({
      redis, pool, prefix, hash: createHasher(config.log.hashKey), retentionDays: config.privacy.retentionDays,
      bindings: createBindingStore(redis, prefix), isCallDataKey: (k) => calls.isLegKey(k) || spool.isSpoolKey(k),
      restrictionHash: config.privacy.hashKey === null ? null : createHasher(config.privacy.hashKey),
    });
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(summarise(report));
    return report.ok ? 0 : 1;
  } finally {
    await pool.end();
    redis.disconnect();
  }
}

main().then((code) => process.exit(code), (err: Error) => {
  process.stderr.write(`audit: ${err instanceof ConfigError ? err.message : err.stack ?? err.message}\n`);
  process.exit(2);
});
