// REGISTER through a real drachtio-server v0.9.10, from sipp and from the test UA over real UDP.
import t from 'tap';
import { freshStores, provision, type Stores } from '../helpers/harness.js';
import { drachtioBinary, startDrachtio, type DrachtioServer } from './drachtio-server.js';
import { startE2eDaemon, type E2eDaemon } from './daemon.js';
import { describeRun, runSipp } from './sipp.js';

const found = drachtioBinary();
if ('skip' in found) {
  t.comment(`skipped: ${found.skip}`);
  process.exit(0);
}
const DOMAIN = 'e2e-reg.example.com';

let stores: Stores;
let drachtio: DrachtioServer;
let daemon: E2eDaemon;
let accountSid: string;

t.before(async () => {
  stores = await freshStores('e2e-register');
  drachtio = await startDrachtio(found.bin);
  daemon = await startE2eDaemon(stores, drachtio);
  accountSid = await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland' });
});
t.teardown(async () => {
  await daemon?.stop();
  await drachtio?.stop();
  await stores?.close();
});

async function bindingsOf(user: string) {
  const keys = await stores.redis.keys(`${stores.prefix}bind:${accountSid}:${user}:*`);
  return Promise.all(keys.map(async (key) => ({ key, value: JSON.parse((await stores.redis.get(key))!), pttl: await stores.redis.pttl(key) })));
}

t.test('sipp (MD5 only) registers with the default configuration', async (t) => {
  const run = await runSipp({
    scenario: 'register.xml', target: `127.0.0.1:${drachtio.sipPort}`, vars: { final: 200 }, keys: { expires: 3600 },
    injection: [`alice;${DOMAIN};[authentication username=alice password=wonderland]`],
  });
  t.equal(run.code, 0, 'sipp: every REGISTER answered as expected', run.code === 0 ? {} : { sipp: describeRun(run) });
  const [b] = await bindingsOf('alice');
  t.ok(b, 'binding stored');
  t.ok(b && b.pttl > 0 && b.pttl <= 3600_000, `TTL ≤ 3600 s (${b?.pttl})`);
});
