// Errors are sorted by kind from what the real clients throw: an outage is never taken for a bug,
// nor a bug (a TypeError, an SQL syntax error) for an outage.
import t from 'tap';
import { Redis } from 'ioredis';
import { createPool, ensureDatabase } from '../lib/db/pool.js';
import { BadInputError, errorKind, onStore, StoreUnavailableError } from '../lib/errors.js';
import { freshStores, REDIS_URL, type Stores } from './helpers/harness.js';
import { startCutProxy } from './helpers/tcp-proxy.js';

let stores: Stores;
t.before(async () => { stores = await freshStores('errors'); });
t.teardown(() => stores.close());

const caught = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a rejection'); }, (err: unknown) => err);

t.test('MySQL: unreachable or closed is an outage; bad SQL is a bug; refused data is bad input', async (t) => {
  const dead = createPool({ url: 'mysql://root@127.0.0.1:1/none', database: 'none' }, 1);
  t.equal(errorKind(await caught(dead.query('SELECT 1'))), 'unavailable', 'connection refused');
  await dead.end();
  t.equal(errorKind(await caught(dead.query('SELECT 1'))), 'unavailable', 'pool closed');
  await ensureDatabase({ url: stores.mysqlUrl, database: stores.database });
  const pool = createPool({ url: stores.mysqlUrl, database: stores.database }, 1);
  t.teardown(() => pool.end());
  t.equal(errorKind(await caught(pool.query('SELEC 1'))), 'bug', 'syntax error');
  t.equal(errorKind(await caught(pool.query('SELECT * FROM no_such_table'))), 'bug', 'no such table');
  await pool.query('CREATE TABLE IF NOT EXISTS k (id INT PRIMARY KEY, v TINYINT)');
  await pool.query('INSERT IGNORE INTO k VALUES (1, 1)');
  t.equal(errorKind(await caught(pool.query('INSERT INTO k VALUES (1, 1)'))), 'bad_input', 'duplicate key (SQLSTATE 23)');
  await pool.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES'");
  t.equal(errorKind(await caught(pool.query('INSERT INTO k VALUES (2, 1000)'))), 'bad_input', 'out of range (SQLSTATE 22)');
});

t.test('Redis: a command timeout, a closed connection, retries given up are outages; a script error is a bug', async (t) => {
  const proxy = await startCutProxy(6379);
  t.teardown(() => proxy.close());
  const r = new Redis(proxy.redisUrl(), { commandTimeout: 200, maxRetriesPerRequest: 1, lazyConnect: true });
  t.teardown(() => r.disconnect());
  await r.connect();
  t.equal(errorKind(await caught(r.eval('return redis.call("NOPE")', 0))), 'bug', 'a Lua error');
  proxy.cut();
  t.equal(errorKind(await caught(r.get('x'))), 'unavailable', 'while the connection is down');
  r.disconnect();
  t.equal(errorKind(await caught(r.get('x'))), 'unavailable', 'connection closed');
  const ok = new Redis(REDIS_URL, { lazyConnect: true });
  t.teardown(() => ok.disconnect());
  t.equal(errorKind(await caught(ok.call('NOSUCHCOMMAND'))), 'bug', 'an unknown command is not an outage');
});

t.test('ours by their class; anything unknown is a bug; onStore names the store', async (t) => {
  t.equal(errorKind(new StoreUnavailableError('redis', 'x')), 'unavailable');
  t.equal(errorKind(new BadInputError('x')), 'bad_input');
  t.equal(errorKind(new TypeError("Cannot read properties of undefined (reading 'x')")), 'bug');
  t.equal(errorKind('a string'), 'bug');
  const e = await caught(onStore('mysql', Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))));
  t.ok(e instanceof StoreUnavailableError && e.store === 'mysql', 'an outage becomes StoreUnavailableError(mysql)');
  const bug = new TypeError('boom');
  t.equal(await caught(onStore('redis', Promise.reject(bug))), bug, 'a bug passes through as it is');
});
