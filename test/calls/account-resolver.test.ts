// Account resolution order and the opt-out cache, over the real MariaDB.
import t from 'tap';
import { createAccountResolver } from '../../lib/calls/account-resolver.js';
import { migrate } from '../../lib/db/migrate.js';
import { createPool, ensureDatabase } from '../../lib/db/pool.js';
import { createLogger } from '../../lib/log.js';
import { freshStores, provision, type Stores } from '../helpers/harness.js';

const silent = createLogger({ level: 'silent', hashKey: '' });
let stores: Stores;
const sid = { a: '', b: '', c: '' };

t.before(async () => {
  stores = await freshStores('calls_account_resolver');
  await ensureDatabase({ url: stores.mysqlUrl, database: stores.database });
  await migrate(stores.pool, silent);
  sid.a = await provision(stores.pool, { realm: 'a.example', numbers: ['+15550001'] });
  sid.b = await provision(stores.pool, { realm: 'b.example', numbers: ['15550002'] });
  sid.c = await provision(stores.pool, { realm: 'c.example' });
});
t.teardown(() => stores.close());

const none = { xAccountSid: null, ruriUser: null, ruriHost: null, fromHost: null };

t.test('resolution order: X-Account-Sid, number, Request-URI realm, From realm', async (t) => {
  const r = createAccountResolver(stores.pool, { cacheMs: 0, now: Date.now });
  const all = { xAccountSid: sid.c, ruriUser: '+15550001', ruriHost: 'b.example', fromHost: 'c.example' };
  t.match(await r.resolve(all), { accountSid: sid.c, rule: 'x-account-sid', disableCdrs: false });
  t.match(await r.resolve({ ...all, xAccountSid: null }), { accountSid: sid.a, rule: 'phone-number' }, 'number before realm');
  t.match(await r.resolve({ ...all, xAccountSid: null, ruriUser: '999' }), { accountSid: sid.b, rule: 'request-uri-realm' });
  t.match(await r.resolve({ ...all, xAccountSid: null, ruriUser: '999', ruriHost: 'nowhere.example' }), { accountSid: sid.c, rule: 'from-realm' });
  t.match(await r.resolve({ ...none, ruriHost: 'B.EXAMPLE' }), { accountSid: sid.b }, 'realms compare case-insensitively');
  t.equal(await r.resolve({ ...all, xAccountSid: null, ruriUser: '999', ruriHost: 'x.example', fromHost: 'y.example' }), null, 'no match: no account');
  t.equal(await r.resolve(none), null);
});

t.test('an X-Account-Sid naming no account falls through to the next rule', async (t) => {
  const r = createAccountResolver(stores.pool, { cacheMs: 0, now: Date.now });
  t.match(await r.resolve({ ...none, xAccountSid: '00000000-0000-0000-0000-000000000000', ruriUser: '+15550001' }), { accountSid: sid.a, rule: 'phone-number' });
});

t.test('numbers match as dialled, then with or without a leading +', async (t) => {
  const r = createAccountResolver(stores.pool, { cacheMs: 0, now: Date.now });
  t.match(await r.resolve({ ...none, ruriUser: '+15550002' }), { accountSid: sid.b }, 'stored without +');
  t.match(await r.resolve({ ...none, ruriUser: '15550001' }), { accountSid: sid.a }, 'stored with +');
  t.equal(await r.resolve({ ...none, ruriUser: '5550001' }), null, 'no other normalisation');
});

t.test('a change made in the database is honoured once the cache entry is older than cacheMs', async (t) => {
  const clock = { ms: 1_000_000 };
  const r = createAccountResolver(stores.pool, { cacheMs: 2000, now: () => clock.ms });
  const q = { ...none, ruriUser: '+15550001' };
  t.match(await r.resolve(q), { accountSid: sid.a, disableCdrs: false });
  await stores.pool.query('UPDATE accounts SET disable_cdrs = 1 WHERE account_sid = ?', [sid.a]);
  t.teardown(() => stores.pool.query('UPDATE accounts SET disable_cdrs = 0 WHERE account_sid = ?', [sid.a]));
  clock.ms += 1999;
  t.match(await r.resolve(q), { disableCdrs: false }, 'served from the cache within cacheMs');
  clock.ms += 1;
  t.match(await r.resolve(q), { accountSid: sid.a, disableCdrs: true }, 'read again once cacheMs has passed');
});

t.test('invalidate(account) and invalidate() take effect at once', async (t) => {
  const r = createAccountResolver(stores.pool, { cacheMs: 5000, now: () => 0 });
  const q = { ...none, ruriUser: '15550002' };
  t.match(await r.resolve(q), { accountSid: sid.b, disableCdrs: false });
  await stores.pool.query('UPDATE accounts SET disable_cdrs = 1 WHERE account_sid = ?', [sid.b]);
  t.teardown(() => stores.pool.query('UPDATE accounts SET disable_cdrs = 0 WHERE account_sid = ?', [sid.b]));
  t.match(await r.resolve(q), { disableCdrs: false }, 'cached');
  r.invalidate(sid.c);
  t.match(await r.resolve(q), { disableCdrs: false }, 'another account invalidated: still cached');
  r.invalidate(sid.b);
  t.match(await r.resolve(q), { disableCdrs: true }, 'this account invalidated: read again');

  await stores.pool.query('UPDATE phone_numbers SET account_sid = ? WHERE number = ?', [sid.c, '15550002']);
  t.teardown(() => stores.pool.query('UPDATE phone_numbers SET account_sid = ? WHERE number = ?', [sid.b, '15550002']));
  t.match(await r.resolve(q), { accountSid: sid.b }, 'number mapping cached');
  r.invalidate();
  t.match(await r.resolve(q), { accountSid: sid.c }, 'everything invalidated: the number now resolves to its new account');
});

t.test('MySQL unreachable: resolve rejects (the caller defers the row)', async (t) => {
  const dead = createPool({ url: 'mysql://root@127.0.0.1:1/none', database: 'none' }, 1);
  t.teardown(() => dead.end());
  const r = createAccountResolver(dead, { cacheMs: 1000, now: Date.now });
  await t.rejects(r.resolve({ ...none, ruriUser: '15550002' }));
});
