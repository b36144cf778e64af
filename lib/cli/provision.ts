// npm run provision -- --realm example.com --user alice --password secret [--number 15551230000] [--disable-cdrs | --enable-cdrs]
// Creates the schema if needed, then an account for the realm and a SIP client. Only
// the digests (HA1) are stored.
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config/index.js';
import { createAccountQueries } from '../db/provision.js';
import { migrate } from '../db/migrate.js';
import { createPool, ensureDatabase } from '../db/pool.js';
import { ConfigError } from '../errors.js';
import { createLogger } from '../log.js';

const USAGE = 'usage: npm run provision -- --realm <sip domain> --user <username> --password <password> [--account-name <name>] [--account-sid <uuid>] [--number <digits>]... [--disable-cdrs | --enable-cdrs]';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      realm: { type: 'string' }, user: { type: 'string' }, password: { type: 'string' },
      'account-name': { type: 'string' }, 'account-sid': { type: 'string' },
      number: { type: 'string', multiple: true }, 'disable-cdrs': { type: 'boolean' }, 'enable-cdrs': { type: 'boolean' },
    },
  });
  const realm = values.realm?.toLowerCase();
  if (!realm || !values.user || !values.password) {
    process.stderr.write(`${USAGE}\n`);
    return 64;
  }
  const config = loadConfig();
  const log = createLogger({ ...config.log, level: 'warn' });
  await ensureDatabase(config.mysql);
  const pool = createPool(config.mysql, 2);
  try {
    await migrate(pool, log);
    const q = createAccountQueries(pool);
    // Without either flag an existing account keeps its opt-out: adding a user must not opt it back in.
    const disableCdrs = values['disable-cdrs'] ? true : values['enable-cdrs'] ? false : undefined;
    const { accountSid, created } = await q.ensureAccount({
      realm, name: values['account-name'], accountSid: values['account-sid'], disableCdrs,
    });
    const { clientSid } = await q.setClient({ accountSid, realm, username: values.user, password: values.password });
    for (const n of values.number ?? []) await q.addNumber(accountSid, n);
    process.stdout.write(`${JSON.stringify({ account_sid: accountSid, account_created: created, client_sid: clientSid, realm, username: values.user, numbers: values.number ?? [] })}\n`);
    return 0;
  } finally {
    await pool.end();
  }
}

main().then((code) => process.exit(code), (err: Error) => {
  process.stderr.write(`provision: ${err instanceof ConfigError ? err.message : err.stack ?? err.message}\n`);
  process.exit(1);
});
