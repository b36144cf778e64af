// REGISTER end to end, authentication: digest failures (403), stale and replayed nonces, nonces bound
// to their address, algorithms offered, the digest uri, forged digests and malformed requests.
import t from 'tap';
import { buildRegister, digestAuthorization } from '../peer/sip-ua.js';
import { Device, challenges } from '../helpers/ua.js';
import { createNonceService } from '../../lib/register/nonce.js';
import { DEVICE_IP, DOMAIN, infoLogText, mysqlHoldsNoDeviceAddress, registerMetrics, registerWorld } from './world.js';

const w = registerWorld(t, 'register_auth');

t.test('wrong password, unknown user, unknown realm: 403', async (t) => {
  t.equal((await w.device({ sourceAddress: '203.0.113.1' }).register({}, { password: 'nope' })).status, 403, 'wrong password');
  t.equal((await w.device({ sourceAddress: '203.0.113.1', user: 'mallory' }).register()).status, 403, 'unknown user');
  t.equal((await w.device({ sourceAddress: '203.0.113.1', domain: 'nowhere.example' }).register()).status, 403, 'unknown realm');
});

t.test('a stale nonce is answered 401 stale=true, and the device recovers', async (t) => {
  const d = w.device({ sourcePort: 5083 });
  const first = await d.once();
  d.learn(first);
  d.nonce = forgeOldNonce();
  const stale = await d.once();
  t.equal(stale.status, 401);
  t.equal(challenges(stale.headers['www-authenticate'])[0]!.stale, 'true');
  d.learn(stale);
  t.equal((await d.once()).status, 200);
  t.equal((await d.once({ expires: 0 })).status, 200);
});

t.test('a replayed nonce-count is refused and changes nothing', async (t) => {
  const d = w.device({ sourcePort: 5084 });
  t.equal((await d.register()).status, 200);
  const before = await w.bindingsOf('alice');
  const replay = await d.once({ expires: 0 }, { nc: d.nc });
  t.equal(replay.status, 401, 'same nonce-count again');
  t.equal(challenges(replay.headers['www-authenticate'])[0]!.stale, 'true');
  t.equal((await w.bindingsOf('alice')).length, before.length, 'the replayed removal did not happen');
  t.equal((await d.once({ expires: 0 })).status, 200);
});

t.test('a nonce only verifies from the address it was sent to: spoofed failures cannot block a device', async (t) => {
  // The attacker fetches a nonce from its own address, then forges REGISTERs "from" the device.
  const attacker = w.device({ sourceAddress: '203.0.113.66', password: 'wrong' });
  attacker.learn(await attacker.once());
  const spoofed = new Device((raw, meta) => w.peer.sendRequest(raw, { ...meta, sourceAddress: '198.51.100.99' }),
    { user: 'alice', password: 'wrong', domain: DOMAIN, sourceAddress: '203.0.113.66' });
  spoofed.nonce = attacker.nonce;
  for (let i = 0; i < 12; i++) t.equal((await spoofed.once()).status, 401, 'a fresh challenge, not a counted failure');
  const victim = w.device({ sourceAddress: '198.51.100.99', sourcePort: 5092 });
  t.equal((await victim.register()).status, 200, 'the real device still registers');
  t.equal((await victim.once({ expires: 0 })).status, 200);
});

t.test('an algorithm we do not offer gets the challenge listing the ones we do', async (t) => {
  const d = w.device({ sourcePort: 5089 });
  d.learn(await d.once());
  const sha512 = digestAuthorization({ user: 'alice', password: 'wonderland', realm: DOMAIN, nonce: d.nonce!, uri: `sip:${DOMAIN}`, qop: 'auth', nc: 1 })
    .replace('algorithm=MD5', 'algorithm=SHA-512-256');
  const res = await d.once({ authorization: sha512 });
  t.equal(res.status, 401);
  t.same(challenges(res.headers['www-authenticate']).map((c) => c.algorithm), ['MD5', 'SHA-256']);
});

t.test('the digest uri is verified through the response, not compared with the Request-URI', async (t) => {
  // sipp sends uri="sip:<server address>:<port>" while its Request-URI is sip:<realm>.
  const d = w.device({ sourcePort: 5079 });
  d.learn(await d.once());
  const creds = (uri: string, password = 'wonderland') =>
    digestAuthorization({ user: 'alice', password, realm: DOMAIN, nonce: d.nonce!, uri, qop: 'auth', nc: ++d.nc });
  t.equal((await d.once({ authorization: creds('sip:127.0.0.1:5060') })).status, 200, 'another uri, response computed over it');
  const forged = creds('sip:127.0.0.1:5060').replace('uri="sip:127.0.0.1:5060"', 'uri="sip:other.example.com"');
  t.equal((await d.once({ authorization: forged })).status, 403, 'a response that does not cover the uri given');
  t.equal((await d.once({ authorization: creds('sip:127.0.0.1:5060', 'wrong') })).status, 403, 'wrong password with another uri');
  t.equal((await d.once({ expires: 0 })).status, 200);
});

t.test('a nonce from another secret gets a fresh challenge, not a refusal', async (t) => {
  const d = w.device({ sourcePort: 5085 });
  d.nonce = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
  const res = await d.once();
  t.equal(res.status, 401);
  t.not(challenges(res.headers['www-authenticate'])[0]!.stale, 'true');
});

t.test('malformed REGISTERs get 400 or 403 and the daemon keeps serving', async (t) => {
  const send = (raw: string) => w.peer.sendRequest(raw, { sourceAddress: '203.0.113.9', sourcePort: 5060 });
  const base = { user: 'alice', domain: DOMAIN };
  const noContact = buildRegister(base).replace(/^Contact:.*\r\n/m, '');
  t.equal((await send(noContact)).status, 400, 'no Contact');
  t.equal((await send(buildRegister({ ...base, expires: 'abc' }))).status, 400, 'garbage Expires');
  t.equal((await send(buildRegister({ ...base, contactExpires: -5 as number }))).status, 400, 'negative contact expires');
  t.equal((await send(buildRegister({ ...base, authorization: 'Digest username=' }))).status, 400, 'unparsable Authorization');
  t.equal((await send(buildRegister({ ...base, authorization: 'Basic YWxpY2U6d29uZGVybGFuZA==' }))).status, 400, 'Basic auth');
  t.equal((await send(buildRegister({ ...base, contact: '*', expires: 3600 }))).status, 400, '* with non-zero Expires');
  t.equal((await send(buildRegister({ ...base, contact: '<alice@127.0.0.1>' }))).status, 400, 'Contact without sip: scheme');
  t.equal((await send(buildRegister({ ...base, extraHeaders: [`X-Big: ${'x'.repeat(10_000)}`] }))).status, 401, '10 KB header: still just a REGISTER');
  t.equal((await send(buildRegister({ ...base, contact: `<sip:alice@${'a'.repeat(600)}.example>` }))).status, 400, 'oversized Contact URI');
  t.equal((await send(buildRegister({ user: 'alice', domain: DOMAIN }).replace(/^To:.*$/m, 'To: garbage'))).status, 400, 'bad To');

  const sqlUser = "alice' OR '1'='1";
  t.equal((await send(buildRegister({ ...base, user: sqlUser }))).status, 400, 'SQL metacharacters unescaped in the URI: bad To');
  const evil = w.device({ user: sqlUser, uriUser: encodeURIComponent(sqlUser), sourceAddress: '203.0.113.10' });
  const first = await evil.once();
  t.equal(first.status, 401);
  evil.learn(first);
  t.equal((await evil.once()).status, 403, 'SQL metacharacters in the username: just an unknown user');
  const [rows] = await w.stores.pool.query('SELECT COUNT(*) AS n FROM clients');
  t.equal(Number((rows as { n: number }[])[0]!.n), 2, 'clients table untouched');

  t.equal((await w.device({ sourcePort: 5086 }).register()).status, 200, 'still serving');
  t.equal((await w.device({ sourcePort: 5086 }).register({ expires: 0 })).status, 200);
});

t.test('a forged digest (right nonce, wrong realm, no qop) is refused', async (t) => {
  const d = w.device({ sourcePort: 5087, sourceAddress: '203.0.113.11' });
  const first = await d.once();
  d.learn(first);
  const auth = digestAuthorization({ user: 'alice', password: 'wonderland', realm: 'other.example', nonce: d.nonce!, uri: `sip:${DOMAIN}`, qop: 'auth', nc: 1 });
  t.equal((await d.once({ authorization: auth })).status, 403, 'realm not the AOR domain');
  // (A digest uri other than the Request-URI is no forgery when the response covers it: see the test above.)
  const noQop = digestAuthorization({ user: 'alice', password: 'wonderland', realm: DOMAIN, nonce: d.nonce!, uri: `sip:${DOMAIN}` });
  t.equal((await d.once({ authorization: noQop })).status, 403, 'qop=auth is required: without it a response could be replayed');
});


t.test('nothing at info level names a device address or user', async (t) => {
  const text = infoLogText(w);
  for (const needle of [DEVICE_IP, '203.0.113.1', 'alice', 'wonderland', 'mallory']) t.notOk(text.includes(needle), `no "${needle}" in logs`);
  t.ok(w.daemon.logs.some((l) => l.msg === 'REGISTER authentication failed'), 'failures are logged');
});

t.test('metrics count every outcome without addresses in labels', async (t) => {
  const { body, count } = await registerMetrics(w);
  t.ok(count('ok') >= 5);
  t.ok(count('challenged') >= 5);
  t.ok(count('forbidden') >= 5);
  t.ok(count('invalid') >= 7);
  t.ok(count('stale') >= 1);
  t.ok(count('replayed') >= 1);
  t.notMatch(body, new RegExp(DEVICE_IP.replace(/\./g, '\\.')));
  t.notMatch(body, /alice/);
});

t.test('MySQL holds no device address', (t) => mysqlHoldsNoDeviceAddress(t, w));

/** An old nonce made the honest way: the daemon's secret, a clock that reads an hour ago. */
function forgeOldNonce(): string {
  return createNonceService({ secret: 'test-nonce-secret', lifetimeSeconds: 300, now: () => Date.now() - 3600_000 }).issue(DEVICE_IP);
}
