// The registration hook (jambonz-compatible) through test/peer, with a real HTTP server playing the
// customer's hook: what it is sent and how it is signed, ok / fail / blacklist, and every failure —
// slow, 500, garbage, a redirect, a signature the customer rejects, nobody listening — answered 503.
import t from 'tap';
import { createHmac } from 'node:crypto';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { admitting, setHook, signatureValid, startHookServer, type HookServer } from '../helpers/hook-server.js';
import { freePort } from '../helpers/ports.js';
import { Device } from '../helpers/ua.js';
import { metric } from '../calls/helpers.js';
import { signature } from '../../lib/register/hook.js';

const DOMAIN = 'hook.example.com';
const SECRET = 'whsec-0123456789abcdef';
const HOOK_USER = 'hook-basic-user';
const HOOK_PASSWORD = 'hook-basic-password-42';
const USERS = { carol: 'carols-secret', dan: 'dans-secret' };

let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let hook: HookServer;
let accountSid: string;
let source = 10;

t.before(async () => {
  stores = await freshStores('hook');
  peer = await DrachtioPeer.listen();
  hook = await startHookServer();
  daemon = await startDaemon(stores, peer, { env: { REGISTRATION_HOOK_TIMEOUT_MS: '400', CREDENTIAL_CACHE_MS: '0' } });
  // A clients row that the hook account must ignore: its password is not the one the hook knows.
  accountSid = await provision(stores.pool, { realm: DOMAIN, user: 'carol', password: 'the-clients-table-password' });
  await setHook(stores.pool, accountSid, { url: `${hook.url}/auth`, username: HOOK_USER, password: HOOK_PASSWORD, secret: SECRET });
});
t.teardown(async () => {
  await daemon.close();
  await peer.close();
  await hook.close();
  await stores.close();
});

/** A phone from an address of its own, so that no test's failures count against another's. */
const phone = (user: keyof typeof USERS = 'carol', password: string = USERS[user]) =>
  Device.via(peer, { user, password, domain: DOMAIN, sourceAddress: `198.51.100.${++source}`, sourcePort: 5080 });
const bindings = async () => (await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:*`)).length;
const hookMetric = (result: string) => metric(daemon.metrics.hookRequests, { result });

t.test('ok: the hook is sent the digest and origin, signed and with Basic auth; its expiry caps the grant', async (t) => {
  hook.behave(admitting(USERS, { expires: 120 }));
  const calls = hook.calls.length;
  const d = phone();
  const res = await d.register({ expires: 3600, userAgent: 'HookPhone/1' });
  t.equal(res.status, 200);
  t.match(res.headers.contact, /;expires=120$/, 'granted at most what the hook said');
  const [key] = await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:carol:*`);
  const pttl = await stores.redis.pttl(key!);
  t.ok(pttl > 110_000 && pttl <= 120_000, `binding TTL ${pttl} ms`);

  t.equal(hook.calls.length, calls + 1, 'one hook request for the authenticated REGISTER (none for the challenge)');
  const call = hook.calls.at(-1)!;
  t.equal(call.method, 'POST');
  t.equal(call.path, '/auth');
  t.equal(call.headers['content-type'], 'application/json');
  t.equal(call.headers.authorization, `Basic ${Buffer.from(`${HOOK_USER}:${HOOK_PASSWORD}`).toString('base64')}`);
  t.match(call.headers['jambonz-signature'], /^t=\d+,v1=[0-9a-f]{64}$/);
  t.ok(signatureValid(call.headers['jambonz-signature'] as string, call.body, SECRET), 'a customer verifies the signature over the raw body');
  t.notOk(signatureValid(call.headers['jambonz-signature'] as string, call.body.replace('carol', 'carl'), SECRET), 'and it covers every byte of it');
  t.same(Object.keys(call.params).sort(), ['algorithm', 'cnonce', 'expires', 'method', 'nc', 'nonce', 'qop', 'realm', 'response', 'source_address', 'source_port', 'transport', 'uri', 'username'].sort());
  t.match(call.params, {
    method: 'REGISTER', realm: DOMAIN, username: 'carol', expires: 3600, algorithm: 'MD5', qop: 'auth', nc: '00000001',
    uri: 'sip:127.0.0.1:5060', source_address: `198.51.100.${source}`, source_port: 5080, transport: 'udp',
  });

  // Never cached: the refresh, with the next nonce-count and so a new response, asks again.
  t.equal((await d.once({ expires: 60 })).status, 200);
  t.equal(hook.calls.length, calls + 2, 'the refresh asked the hook again');
  t.equal(hook.calls.at(-1)!.params.nc, '00000002');
  // Removal is authenticated the same way.
  t.equal((await d.once({ expires: 0 })).status, 200);
  t.equal(hook.calls.at(-1)!.params.expires, 0);
  t.equal(await bindings(), 0);
  t.ok(await hookMetric('ok') >= 3);
});

t.test('the clients table is not used for an account with a hook', async (t) => {
  hook.behave(admitting(USERS));
  const res = await phone('carol', 'the-clients-table-password').register();
  t.equal(res.status, 403, 'the password in clients does not open a hook account');
  t.equal(await bindings(), 0);
});

t.test('fail: 403, counted as an authentication failure; nothing stored', async (t) => {
  hook.behave(admitting(USERS));
  const before = await metric(daemon.metrics.authFailures);
  const res = await phone('dan', 'not-dans-password').register();
  t.equal(res.status, 403);
  t.equal(await metric(daemon.metrics.authFailures), before + 1);
  t.ok(await hookMetric('fail') >= 1);
  t.equal(await bindings(), 0);
});

t.test('blacklist: the source is refused for the time given (true: AUTH_BLOCK_SECONDS; 0: the policy hour), without asking the hook again', async (t) => {
  // A daemon that caches the account (the default): the block is checked before the hook all the same.
  const peer2 = await DrachtioPeer.listen();
  const cached = await startDaemon(stores, peer2, { env: { REGISTRATION_HOOK_TIMEOUT_MS: '400', CREDENTIAL_CACHE_MS: '60000' } });
  t.teardown(async () => { await cached.close(); await peer2.close(); });
  for (const [blacklist, ttl] of [[true, 300], [600, 600], [0, 3600]] as const) {
    hook.behave(() => ({ body: JSON.stringify({ status: 'fail', blacklist }) }));
    const d = Device.via(peer2, { user: 'carol', password: USERS.carol, domain: DOMAIN, sourceAddress: `198.51.100.${++source}`, sourcePort: 5080 });
    t.equal((await d.register()).status, 403, `blacklist ${blacklist}`);
    const [block] = await stores.keys(`${stores.prefix}block:*`);
    const left = await stores.redis.ttl(block!);
    t.ok(left > ttl - 5 && left <= ttl, `blocked for ${left} s`);
    hook.behave(admitting(USERS));
    const calls = hook.calls.length;
    t.equal((await d.once({}, { password: USERS.carol })).status, 403, 'the right password from that address: still refused');
    t.equal(hook.calls.length, calls, 'a blocked source never reaches the hook');
    await stores.redis.del(block!);
  }
  const other = Device.via(peer2, { user: 'carol', password: USERS.carol, domain: DOMAIN, sourceAddress: `198.51.100.${++source}`, sourcePort: 5080 });
  t.equal((await other.register()).status, 200, 'another address registers');
  await stores.redis.del(...await stores.keys(`${stores.prefix}bind:*`));
});

t.test('every failure of the hook is a 503 with Retry-After, logged and counted by reason; nothing stored', async (t) => {
  const closed = await freePort();
  const cases: { why: string; reason: string; reply?: Parameters<HookServer['behave']>[0]; url?: string }[] = [
    { why: 'slower than REGISTRATION_HOOK_TIMEOUT_MS', reason: 'timeout', reply: () => ({ body: '{"status":"ok"}', delayMs: 1500 }) },
    { why: 'a 500', reason: 'http_error', reply: () => ({ status: 500, body: '{"status":"ok"}' }) },
    { why: 'a 404', reason: 'http_error', reply: () => ({ status: 404 }) },
    { why: 'not JSON', reason: 'invalid_response', reply: () => ({ body: '<html>ok</html>' }) },
    { why: 'an empty 200', reason: 'invalid_response', reply: () => ({ body: '' }) },
    { why: 'a status that is neither ok nor fail', reason: 'invalid_response', reply: () => ({ body: '{"status":"OK"}' }) },
    { why: 'a JSON array', reason: 'invalid_response', reply: () => ({ body: '["ok"]' }) },
    { why: 'expires 0', reason: 'invalid_response', reply: () => ({ body: '{"status":"ok","expires":0}' }) },
    { why: 'expires as text', reason: 'invalid_response', reply: () => ({ body: '{"status":"ok","expires":"60"}' }) },
    { why: 'ok and blacklist at once', reason: 'invalid_response', reply: () => ({ body: '{"status":"ok","blacklist":true}' }) },
    { why: 'an answer over 16 KiB', reason: 'invalid_response', reply: () => ({ body: JSON.stringify({ status: 'ok', message: 'x'.repeat(20_000) }) }) },
    { why: 'a redirect (never followed)', reason: 'redirect', reply: (c) => (c.path === '/auth' ? { status: 302, headers: { location: `${hook.url}/elsewhere` } } : { body: '{"status":"ok"}' }) },
    { why: 'nobody listening', reason: 'unreachable', url: `http://127.0.0.1:${closed}/auth` },
  ];
  for (const c of cases) {
    if (c.url) await setHook(stores.pool, accountSid, { url: c.url, secret: SECRET });
    hook.behave(c.reply ?? (() => ({ status: 500 })));
    const before = await hookMetric(c.reason);
    const res = await phone().register();
    t.equal(res.status, 503, `${c.why}: 503`);
    t.equal(res.headers['retry-after'], '5');
    t.equal(await hookMetric(c.reason), before + 1, `${c.why}: counted as ${c.reason}`);
    t.equal(await bindings(), 0, `${c.why}: nothing stored`);
    const line = daemon.logs.filter((l) => l.msg === 'REGISTER answered 503: the registration hook gave no usable answer').at(-1);
    t.equal(line?.reason, c.reason, `${c.why}: logged with its reason`);
    if (c.url) await setHook(stores.pool, accountSid, { url: `${hook.url}/auth`, username: HOOK_USER, password: HOOK_PASSWORD, secret: SECRET });
  }
  t.notOk(hook.calls.some((c) => c.path === '/elsewhere'), 'the redirect target was never asked');
});

t.test('a customer that checks the signature refuses a request signed with another secret: 503, not 200', async (t) => {
  hook.behave((call) => (signatureValid(call.headers['jambonz-signature'] as string, call.body, SECRET)
    ? admitting(USERS)(call) : { status: 401, body: '{"error":"bad signature"}' }));
  t.equal((await phone().register()).status, 200, 'signed with the account\'s webhook_secret: admitted');
  await stores.redis.del(...await stores.keys(`${stores.prefix}bind:*`));
  await setHook(stores.pool, accountSid, { url: `${hook.url}/auth`, secret: 'a-secret-the-customer-does-not-know' });
  const wrong = await phone().register();
  t.equal(wrong.status, 503, 'the customer refused the signature: no answer, so no registration');
  await setHook(stores.pool, accountSid, { url: `${hook.url}/auth`, secret: null });
  const calls = hook.calls.length;
  t.equal((await phone().register()).status, 503, 'unsigned (no webhook_secret): refused by this customer too');
  t.equal(hook.calls[calls]!.headers['jambonz-signature'], undefined, 'no webhook_secret: no signature header');
  t.equal(hook.calls[calls]!.headers.authorization, undefined, 'no hook credentials: no Basic auth');
  await setHook(stores.pool, accountSid, { url: `${hook.url}/auth`, username: HOOK_USER, password: HOOK_PASSWORD, secret: SECRET });
});

t.test('registration_hook_method GET: the same fields in the query string, which the signature covers', async (t) => {
  await setHook(stores.pool, accountSid, { url: `${hook.url}/auth?tenant=7`, method: 'GET', secret: SECRET });
  hook.behave(admitting(USERS));
  const res = await phone('dan').register();
  t.equal(res.status, 200);
  const call = hook.calls.at(-1)!;
  t.equal(call.method, 'GET');
  t.equal(call.body, '');
  t.equal(call.query.get('tenant'), '7', 'the URL\'s own query is kept');
  t.equal(call.query.get('username'), 'dan');
  t.equal(call.query.get('source_port'), '5080');
  const query = new URL(call.path + '?' + call.query.toString(), 'http://x').search.slice(1);
  t.ok(signatureValid(call.headers['jambonz-signature'] as string, query, SECRET), 'signature over the query string');
  await setHook(stores.pool, accountSid, { url: `${hook.url}/auth`, username: HOOK_USER, password: HOOK_PASSWORD, secret: SECRET });
  await stores.redis.del(...await stores.keys(`${stores.prefix}bind:*`));
});

t.test('an inactive account is refused without asking its hook', async (t) => {
  await stores.pool.query('UPDATE accounts SET is_active = 0 WHERE account_sid = ?', [accountSid]);
  const calls = hook.calls.length;
  t.equal((await phone().register()).status, 403);
  t.equal(hook.calls.length, calls);
  await stores.pool.query('UPDATE accounts SET is_active = 1 WHERE account_sid = ?', [accountSid]);
});

t.test('signature(): jambonz\'s scheme, HMAC-SHA256 of "t.payload", hex', async (t) => {
  const expected = createHmac('sha256', 'k').update('1700000000.{"a":1}').digest('hex');
  t.equal(signature('k', 1_700_000_000, '{"a":1}'), `t=1700000000,v1=${expected}`);
  t.equal(signature('s3cr3t', 1_767_312_000, '{"username":"alice"}'),
    't=1767312000,v1=432986646ff0af63fde0dc9f5233af60a0d59e8807dfc7562d7a81286a2589b4', 'the README\'s example');
});

t.test('no hook URL, basic credentials, secret, digest or answer in any log line at info', async (t) => {
  const all = daemon.rawLogs.join('\n');
  for (const s of [hook.url, HOOK_USER, HOOK_PASSWORD, SECRET, 'bad credentials', 'blacklist', '198.51.100.']) {
    t.notOk(all.includes(s), `no ${JSON.stringify(s)}`);
  }
  for (const c of hook.calls) t.notOk(all.includes(String(c.params.response)), 'no digest response');
  const body = await (await fetch(`${daemon.httpUrl}/metrics`)).text();
  t.match(body, /sip_sidecar_registration_hook_requests_total\{result="timeout"\} [1-9]/);
  t.match(body, /sip_sidecar_registration_hook_duration_seconds_count [1-9]/);
});
