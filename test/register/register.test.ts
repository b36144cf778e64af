// The REGISTER path end to end: the drachtio peer drives the real daemon over TCP,
// bindings land in the real Redis, credentials come from the real MariaDB.
import t from 'tap';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { buildRegister, digestAuthorization } from '../peer/sip-ua.js';
import { freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { Device, challenges } from '../helpers/ua.js';
import { createNonceService } from '../../lib/register/nonce.js';

const DOMAIN = 'reg.example.com';
const DEVICE_IP = '198.51.100.23';

let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let accountSid: string;

t.before(async () => {
  stores = await freshStores('register');
  peer = await DrachtioPeer.listen();
  daemon = await startDaemon(stores, peer);
  accountSid = await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland' });
  await provision(stores.pool, { realm: DOMAIN, user: 'bob', password: 'builder' });
});
t.teardown(async () => {
  await daemon.close();
  await peer.close();
  await stores.close();
});

const device = (o: Partial<Device['o']> = {}) =>
  Device.via(peer, { user: 'alice', password: 'wonderland', domain: DOMAIN, sourceAddress: DEVICE_IP, sourcePort: 5070, ...o });

async function bindingsOf(user: string): Promise<{ key: string; value: Record<string, unknown>; pttl: number }[]> {
  const keys = await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:${user}:*`);
  return Promise.all(keys.map(async (key) => ({
    key, value: JSON.parse((await stores.redis.get(key))!) as Record<string, unknown>, pttl: await stores.redis.pttl(key),
  })));
}

t.test('first REGISTER is challenged with MD5, then SHA-256; the answer stores the binding with the real source', async (t) => {
  const d = device({ sourcePort: 5071 });
  const first = await d.once();
  t.equal(first.status, 401);
  const offered = challenges(first.headers['www-authenticate']);
  t.same(offered.map((c) => c.algorithm), ['MD5', 'SHA-256'], 'MD5 first: sipp and MD5-only phones answer the first one');
  t.equal(offered[0]!.realm, DOMAIN);
  t.equal(offered[0]!.qop, 'auth');
  d.learn(first);
  const ok = await d.once({ userAgent: 'TestPhone/1.0' });
  t.equal(ok.status, 200);
  t.match(ok.headers.contact, new RegExp(`<sip:alice@${DEVICE_IP}:5071>;expires=3600`));

  const [b] = await bindingsOf('alice');
  t.ok(b, 'binding stored in Redis');
  t.equal(b!.value.sourceAddress, DEVICE_IP);
  t.equal(b!.value.sourcePort, 5071);
  t.equal(b!.value.transport, 'udp');
  t.equal(b!.value.userAgent, 'TestPhone/1.0');
  t.equal(b!.value.accountSid, accountSid);
  t.ok(b!.pttl > 0 && b!.pttl <= 3600_000, `0 < TTL ≤ 3600 s (${b!.pttl} ms)`);
  await stores.redis.del(b!.key);
});

t.test('SHA-256 digest (RFC 8760) authenticates too', async (t) => {
  const res = await device({ user: 'bob', password: 'builder', algorithm: 'SHA-256' }).register();
  t.equal(res.status, 200);
});

t.test('a re-registration sets the TTL anew: the hour counts from the most recent REGISTER', async (t) => {
  const d = device({ sourcePort: 5072 });
  t.equal((await d.register({ expires: 120 })).status, 200);
  const [short] = await bindingsOf('alice');
  t.ok(short!.pttl <= 120_000, 'granted 120 s');
  t.equal((await d.once({ expires: 3600 })).status, 200, 'refresh reuses the nonce with the next nonce-count');
  const [long] = await bindingsOf('alice');
  t.ok(long!.pttl > 3500_000 && long!.pttl <= 3600_000, `refreshed to ~3600 s (${long!.pttl})`);
  t.equal((await d.once({ expires: 0 })).status, 200);
});

t.test('7200 s requested: 3600 granted, in the reply and in Redis', async (t) => {
  const d = device({ sourcePort: 5073 });
  const res = await d.register({ expires: 7200 });
  t.equal(res.status, 200);
  t.match(res.headers.contact, /;expires=3600\b/);
  const [b] = await bindingsOf('alice');
  t.ok(b!.pttl <= 3600_000 && b!.pttl > 3590_000, `TTL capped at the policy's hour (${b!.pttl})`);
  t.equal((await d.once({ expires: 0 })).status, 200);
});

t.test('Contact expires parameter wins over the Expires header', async (t) => {
  const d = device({ sourcePort: 5074 });
  const res = await d.register({ expires: 3600, contactExpires: 300 });
  t.equal(res.status, 200);
  t.match(res.headers.contact, /;expires=300\b/);
  t.equal((await d.once({ expires: 0 })).status, 200);
});

t.test('30 s with a 60 s minimum: 423 with Min-Expires, nothing stored', async (t) => {
  const d = device({ sourcePort: 5075 });
  const res = await d.register({ expires: 30 });
  t.equal(res.status, 423);
  t.equal(res.headers['min-expires'], '60');
  t.same(await bindingsOf('alice'), []);
});

t.test('expires 0 removes one binding; Contact * with Expires 0 removes them all', async (t) => {
  const a = device({ sourcePort: 5081 });
  const b = device({ sourcePort: 5082 });
  t.equal((await a.register()).status, 200);
  const both = await b.register();
  t.equal(both.status, 200);
  t.equal(both.headers.contact!.split(',').length, 2, '200 lists every current binding');
  t.equal((await bindingsOf('alice')).length, 2);

  const removed = await a.once({ expires: 0 });
  t.equal(removed.status, 200);
  t.equal((await bindingsOf('alice')).length, 1, 'only the first device is gone');
  t.notMatch(removed.headers.contact ?? '', /5081/);

  const all = await b.once({ contact: '*', expires: 0 });
  t.equal(all.status, 200);
  t.same(await bindingsOf('alice'), [], 'every binding gone at once');
  t.same(await stores.keys(`${stores.prefix}aor:{b*}:${accountSid}:alice`), [], 'AOR index gone too');
});

t.test('wrong password, unknown user, unknown realm: 403', async (t) => {
  t.equal((await device({ sourceAddress: '203.0.113.1' }).register({}, { password: 'nope' })).status, 403, 'wrong password');
  t.equal((await device({ sourceAddress: '203.0.113.1', user: 'mallory' }).register()).status, 403, 'unknown user');
  t.equal((await device({ sourceAddress: '203.0.113.1', domain: 'nowhere.example' }).register()).status, 403, 'unknown realm');
});

t.test('a stale nonce is answered 401 stale=true, and the device recovers', async (t) => {
  const d = device({ sourcePort: 5083 });
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
  const d = device({ sourcePort: 5084 });
  t.equal((await d.register()).status, 200);
  const before = await bindingsOf('alice');
  const replay = await d.once({ expires: 0 }, { nc: d.nc });
  t.equal(replay.status, 401, 'same nonce-count again');
  t.equal(challenges(replay.headers['www-authenticate'])[0]!.stale, 'true');
  t.equal((await bindingsOf('alice')).length, before.length, 'the replayed removal did not happen');
  t.equal((await d.once({ expires: 0 })).status, 200);
});

t.test('a nonce only verifies from the address it was sent to: spoofed failures cannot block a device', async (t) => {
  // The attacker fetches a nonce from its own address, then forges REGISTERs "from" the device.
  const attacker = device({ sourceAddress: '203.0.113.66', password: 'wrong' });
  attacker.learn(await attacker.once());
  const spoofed = new Device((raw, meta) => peer.sendRequest(raw, { ...meta, sourceAddress: '198.51.100.99' }),
    { user: 'alice', password: 'wrong', domain: DOMAIN, sourceAddress: '203.0.113.66' });
  spoofed.nonce = attacker.nonce;
  for (let i = 0; i < 12; i++) t.equal((await spoofed.once()).status, 401, 'a fresh challenge, not a counted failure');
  const victim = device({ sourceAddress: '198.51.100.99', sourcePort: 5092 });
  t.equal((await victim.register()).status, 200, 'the real device still registers');
  t.equal((await victim.once({ expires: 0 })).status, 200);
});

t.test('an algorithm we do not offer gets the challenge listing the ones we do', async (t) => {
  const d = device({ sourcePort: 5089 });
  d.learn(await d.once());
  const sha512 = digestAuthorization({ user: 'alice', password: 'wonderland', realm: DOMAIN, nonce: d.nonce!, uri: `sip:${DOMAIN}`, qop: 'auth', nc: 1 })
    .replace('algorithm=MD5', 'algorithm=SHA-512-256');
  const res = await d.once({ authorization: sha512 });
  t.equal(res.status, 401);
  t.same(challenges(res.headers['www-authenticate']).map((c) => c.algorithm), ['MD5', 'SHA-256']);
});

t.test('the digest uri is verified through the response, not compared with the Request-URI', async (t) => {
  // sipp sends uri="sip:<server address>:<port>" while its Request-URI is sip:<realm>.
  const d = device({ sourcePort: 5079 });
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
  const d = device({ sourcePort: 5085 });
  d.nonce = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
  const res = await d.once();
  t.equal(res.status, 401);
  t.not(challenges(res.headers['www-authenticate'])[0]!.stale, 'true');
});

t.test('malformed REGISTERs get 400 or 403 and the daemon keeps serving', async (t) => {
  const send = (raw: string) => peer.sendRequest(raw, { sourceAddress: '203.0.113.9', sourcePort: 5060 });
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
  const evil = device({ user: sqlUser, uriUser: encodeURIComponent(sqlUser), sourceAddress: '203.0.113.10' });
  const first = await evil.once();
  t.equal(first.status, 401);
  evil.learn(first);
  t.equal((await evil.once()).status, 403, 'SQL metacharacters in the username: just an unknown user');
  const [rows] = await stores.pool.query('SELECT COUNT(*) AS n FROM clients');
  t.equal(Number((rows as { n: number }[])[0]!.n), 2, 'clients table untouched');

  t.equal((await device({ sourcePort: 5086 }).register()).status, 200, 'still serving');
  t.equal((await device({ sourcePort: 5086 }).register({ expires: 0 })).status, 200);
});

t.test('a forged digest (right nonce, wrong realm, no qop) is refused', async (t) => {
  const d = device({ sourcePort: 5087, sourceAddress: '203.0.113.11' });
  const first = await d.once();
  d.learn(first);
  const auth = digestAuthorization({ user: 'alice', password: 'wonderland', realm: 'other.example', nonce: d.nonce!, uri: `sip:${DOMAIN}`, qop: 'auth', nc: 1 });
  t.equal((await d.once({ authorization: auth })).status, 403, 'realm not the AOR domain');
  // (A digest uri other than the Request-URI is no forgery when the response covers it: see the test above.)
  const noQop = digestAuthorization({ user: 'alice', password: 'wonderland', realm: DOMAIN, nonce: d.nonce!, uri: `sip:${DOMAIN}` });
  t.equal((await d.once({ authorization: noQop })).status, 403, 'qop=auth is required: without it a response could be replayed');
});

t.test('an AOR keeps at most ten bindings, and the 200 listing them stays a small frame', async (t) => {
  const d = device({ sourcePort: 5088 });
  const long = (i: number) => `<sip:alice@${DEVICE_IP}:${6000 + i};transport=udp;x=${'y'.repeat(440)}>`;
  const batch = (from: number) => Array.from({ length: 5 }, (_, i) => long(from + i)).join(', ');
  t.equal((await d.register({ contact: batch(0) })).status, 200);
  const ten = await d.once({ contact: batch(5) });
  t.equal(ten.status, 200);
  t.equal(ten.headers.contact!.split(/,\s*</).length, 10, 'all ten listed');
  t.ok(Buffer.byteLength(ten.raw) < 8000, `response is ${Buffer.byteLength(ten.raw)} bytes`);
  const eleven = await d.once({ contact: long(10) });
  t.equal(eleven.status, 200);
  t.equal(eleven.headers.contact!.split(/,\s*</).length, 10, 'the oldest binding made room');
  t.equal((await bindingsOf('alice')).length, 10);
  t.equal((await d.once({ contact: '*', expires: 0 })).status, 200, 'the connection still works');
});

t.test('an older REGISTER of the same Call-ID (RFC 3261 10.3 ordering) changes nothing', async (t) => {
  const d = device({ sourcePort: 5090 });
  d.cseq = 10;
  t.equal((await d.register({ expires: 3600 })).status, 200);
  const before = await bindingsOf('alice');
  d.cseq = 5; // e.g. an un-REGISTER (CSeq 11) and a refresh (CSeq 5) that reached two instances in the wrong order
  const late = await d.once({ expires: 0 });
  t.equal(late.status, 400);
  t.equal(late.reason, 'CSeq Out Of Order');
  t.same((await bindingsOf('alice')).map((b) => b.key), before.map((b) => b.key), 'the binding is untouched');
  d.cseq = 12;
  t.equal((await d.once({ expires: 0 })).status, 200, 'a newer one applies');
  t.same(await bindingsOf('alice'), []);
});

t.test('making room at ten bindings never evicts the one just written', async (t) => {
  const d = device({ sourcePort: 5091 });
  const contact = (i: number) => `<sip:alice@${DEVICE_IP}:${7000 + i}>`;
  t.equal((await d.register({ contact: Array.from({ length: 5 }, (_, i) => contact(i)).join(', '), expires: 3600 })).status, 200);
  t.equal((await d.once({ contact: Array.from({ length: 5 }, (_, i) => contact(i + 5)).join(', '), expires: 3600 })).status, 200);
  const res = await d.once({ contact: contact(10), expires: 120 });
  t.equal(res.status, 200);
  t.match(res.headers.contact, new RegExp(`:7010>;expires=120`), 'the short-lived newcomer stays');
  t.equal(res.headers.contact!.split(/,\s*</).length, 10);
  t.equal((await d.once({ contact: '*', expires: 0 })).status, 200);
});

t.test('nothing at info level names a device address or user', async (t) => {
  const text = daemon.rawLogs.filter((l) => !l.includes('"level":"debug"')).join('\n');
  for (const needle of [DEVICE_IP, '203.0.113.1', 'alice', 'wonderland', 'mallory']) t.notOk(text.includes(needle), `no "${needle}" in logs`);
  t.ok(daemon.logs.some((l) => l.msg === 'REGISTER authentication failed'), 'failures are logged');
});

t.test('metrics count every outcome without addresses in labels', async (t) => {
  const body = await (await fetch(`${daemon.httpUrl}/metrics`)).text();
  const count = (result: string) => Number(new RegExp(`sip_sidecar_register_requests_total\\{result="${result}"\\} (\\d+)`).exec(body)?.[1]);
  t.ok(count('ok') >= 5);
  t.ok(count('challenged') >= 5);
  t.ok(count('forbidden') >= 5);
  t.ok(count('invalid') >= 7);
  t.equal(count('too_brief'), 1);
  t.ok(count('stale') >= 1);
  t.ok(count('replayed') >= 1);
  t.notMatch(body, new RegExp(DEVICE_IP.replace(/\./g, '\\.')));
  t.notMatch(body, /alice/);
});

t.test('MySQL holds no device address', async (t) => {
  const [tables] = await stores.pool.query<any[]>('SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()');
  for (const { t: table } of tables) {
    const [rows] = await stores.pool.query<any[]>(`SELECT * FROM \`${table}\``);
    t.notOk(JSON.stringify(rows).includes(DEVICE_IP), `${table} has no device IP`);
  }
});

/** An old nonce made the honest way: the daemon's secret, a clock that reads an hour ago. */
function forgeOldNonce(): string {
  return createNonceService({ secret: 'test-nonce-secret', lifetimeSeconds: 300, now: () => Date.now() - 3600_000 }).issue(DEVICE_IP);
}
