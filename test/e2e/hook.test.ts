// The registration hook through a real drachtio-server: sipp registers to an account whose users a
// real HTTP server (the customer's hook) authenticates; then the hook fails and sipp is told 503.
import t from 'tap';
import { freshStores, provision, type Stores } from '../helpers/harness.js';
import { admitting, setHook, signatureValid, startHookServer, type HookServer } from '../helpers/hook-server.js';
import { startE2eDaemon, type E2eDaemon } from './daemon.js';
import { drachtioBinOrSkip, startDrachtio, type DrachtioServer } from './drachtio-server.js';
import { describeRun, runSipp } from './sipp.js';

const bin = drachtioBinOrSkip(t);
const DOMAIN = 'e2e-hook.example.com';
const SECRET = 'e2e-webhook-secret-0123';

let stores: Stores;
let drachtio: DrachtioServer;
let daemon: E2eDaemon;
let hook: HookServer;
let accountSid: string;

t.before(async () => {
  stores = await freshStores('e2e-hook');
  hook = await startHookServer();
  drachtio = await startDrachtio(bin);
  daemon = await startE2eDaemon(stores, drachtio, { REGISTRATION_HOOK_TIMEOUT_MS: '500' });
  accountSid = await provision(stores.pool, { realm: DOMAIN });
  await setHook(stores.pool, accountSid, { url: `${hook.url}/sip-auth`, secret: SECRET });
});
t.teardown(async () => {
  await daemon?.stop();
  await drachtio?.stop();
  await hook?.close();
  await stores?.close();
});

const sipp = (final: number, localIp: string) => runSipp({
  scenario: 'register.xml', target: `127.0.0.1:${drachtio.sipPort}`, vars: { final }, keys: { expires: 3600 }, localIp,
  injection: [`erin;${DOMAIN};[authentication username=erin password=erins-password]`],
});

t.test('sipp registers; the hook, holding the password, checks its MD5 digest and caps the expiry', async (t) => {
  hook.behave(admitting({ erin: 'erins-password' }, { expires: 300 }));
  const run = await sipp(200, '127.0.0.21');
  t.equal(run.code, 0, 'sipp: challenged, then 200', run.code === 0 ? {} : { sipp: describeRun(run) });
  t.match(run.messages, /SIP\/2\.0 200 OK[\s\S]*expires=300/i, 'sipp was told the hook\'s 300 s');
  const [key] = await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:erin:*`);
  const pttl = await stores.redis.pttl(key!);
  t.ok(pttl > 290_000 && pttl <= 300_000, `binding TTL ${pttl} ms`);
  const call = hook.calls.at(-1)!;
  t.match(call.params, { username: 'erin', realm: DOMAIN, algorithm: 'MD5', source_address: '127.0.0.21', transport: 'udp' });
  t.ok(signatureValid(call.headers['jambonz-signature'] as string, call.body, SECRET), 'signed with the account\'s webhook_secret');
  await stores.redis.del(key!);
});

t.test('the hook answers 500: sipp gets 503, and nothing is stored', async (t) => {
  hook.behave(() => ({ status: 500, body: '{"status":"ok"}' }));
  const run = await sipp(503, '127.0.0.22');
  t.equal(run.code, 0, 'sipp: challenged, then 503', run.code === 0 ? {} : { sipp: describeRun(run) });
  t.match(run.messages, /Retry-After: 5/);
  t.same(await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:*`), []);
  t.match((await daemon.get('/metrics')).body, /sip_sidecar_registration_hook_requests_total\{result="http_error"\} 1/);
});
