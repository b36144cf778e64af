// Erasure against the stores directly (no writer running): rows spooled while MySQL was
// unreachable carry no account yet, and must still be found and erased with their account.
import t from 'tap';
import { createAccountResolver } from '../../lib/calls/account-resolver.js';
import { createCallState } from '../../lib/calls/correlate.js';
import type { SpoolRow } from '../../lib/calls/row.js';
import { createSpool } from '../../lib/calls/spool.js';
import { migrate } from '../../lib/db/migrate.js';
import { ensureDatabase } from '../../lib/db/pool.js';
import { createHasher, createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { createAccountChanges } from '../../lib/privacy/account-changes.js';
import { createPrivacyService } from '../../lib/privacy/privacy.js';
import { createBindingStore } from '../../lib/register/bindings.js';
import { freshStores, provision, type Stores } from '../helpers/harness.js';

let stores: Stores;
t.before(async () => {
  stores = await freshStores('erasure');
  await ensureDatabase({ url: stores.mysqlUrl, database: stores.database });
  await migrate(stores.pool, createLogger({ level: 'silent', hashKey: '' }));
});
t.teardown(() => stores.close());

function row(o: Partial<SpoolRow> & { callId: string }): SpoolRow {
  return {
    f: 1, accountSid: null, direction: 'inbound', fromUser: '15557770000', toUser: '15550001111', remoteHost: '203.0.113.5',
    attemptedAt: Date.now() - 60_000, answeredAt: null, terminatedAt: Date.now() - 50_000, duration: 0, answered: false,
    sipStatus: 486, reason: 'call-rejected', role: null, userAgent: null, ...o,
  };
}

t.test('rows spooled without an account are resolved and erased with it; others stay', async (t) => {
  const mine = await provision(stores.pool, { realm: 'mine.example.com', numbers: ['15550001111'] });
  const theirs = await provision(stores.pool, { realm: 'theirs.example.com', numbers: ['15550002222'] });
  const spool = createSpool(stores.redis, stores.prefix, 1000);
  const accounts = createAccountResolver(stores.pool, { cacheMs: 0, now: Date.now });
  const log = createLogger({ level: 'silent', hashKey: '' });
  const changes = createAccountChanges({ publisher: stores.redis, subscriber: stores.redis, prefix: stores.prefix, log });
  const service = createPrivacyService({
    pool: stores.pool, bindings: createBindingStore(stores.redis, stores.prefix), calls: createCallState(stores.redis, stores.prefix, 3600),
    spool, accounts, changes, forgetLocally: () => {}, metrics: createMetrics('test'), log, hash: createHasher('k'), exportStallMs: 30_000,
  });
  const resolveTo = (ruriUser: string) => ({ xAccountSid: null, ruriUser, ruriHost: 'sbc.example.net', fromHost: 'carrier.example.net' });
  const rows = [
    row({ callId: 'unresolved-mine', resolve: resolveTo('15550001111') }),
    row({ callId: 'resolved-mine', accountSid: mine }),
    row({ callId: 'unresolved-theirs', resolve: resolveTo('15550002222'), toUser: '15550002222' }),
    row({ callId: 'resolved-theirs', accountSid: theirs, toUser: '15550002222' }),
    row({ callId: 'unresolved-nobody', resolve: resolveTo('19999999999'), toUser: '19999999999' }),
  ];
  await stores.redis.rpush(spool.shards[0]!.key, ...rows.map((r) => JSON.stringify(r)));

  t.same(await service.eraseCdrs(mine), { cdrs: 0, spooled: 2, held: 0 });
  const left = (await stores.redis.lrange(spool.shards[0]!.key, 0, -1)).map((j) => (JSON.parse(j) as SpoolRow).callId);
  t.same(left, ['unresolved-theirs', 'resolved-theirs', 'unresolved-nobody'], 'exactly the account\'s rows went, order kept');

  t.same(await service.eraseCdrsOfNumber(theirs, '+15550002222'), { cdrs: 0, spooled: 2, held: 0 }, 'by number, either spelling');
  t.same((await stores.redis.lrange(spool.shards[0]!.key, 0, -1)).map((j) => (JSON.parse(j) as SpoolRow).callId), ['unresolved-nobody']);
  await changes.close();
});

t.test('account closure makes the account inert before removing it', async (t) => {
  const sid = await provision(stores.pool, { realm: 'closing.example.com', user: 'zed', password: 'pw' });
  const seen: string[] = [];
  const log = createLogger({ level: 'silent', hashKey: '' });
  const changes = createAccountChanges({ publisher: stores.redis, subscriber: stores.redis, prefix: stores.prefix, log });
  const spool = createSpool(stores.redis, stores.prefix, 1000);
  const service = createPrivacyService({
    pool: stores.pool, bindings: createBindingStore(stores.redis, stores.prefix), calls: createCallState(stores.redis, stores.prefix, 3600),
    spool: { ...spool, erase: async (m) => {
      // By the time anything is erased, the account can neither register nor be recorded.
      const [[a]] = await stores.pool.query<any[]>('SELECT is_active, disable_cdrs FROM accounts WHERE account_sid = ?', [sid]);
      seen.push(`active=${a.is_active} disable=${a.disable_cdrs}`);
      return spool.erase(m);
    } },
    accounts: createAccountResolver(stores.pool, { cacheMs: 0, now: Date.now }), changes,
    forgetLocally: (s) => seen.push(`forget ${s === sid}`), metrics: createMetrics('test'), log, hash: createHasher('k'), exportStallMs: 30_000,
  });
  const counts = await service.closeAccount(sid);
  t.match(counts, { accounts: 1, clients: 1 });
  t.same(seen, ['forget true', 'active=0 disable=1', 'forget true'], 'inert and forgotten first, removed after');
  await changes.close();
});
