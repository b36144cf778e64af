// REGISTER end to end, the bindings: what is stored (and with which source), the expiry granted and
// capped at the policy's hour, removal, the ten-binding limit and CSeq ordering.
import t from 'tap';
import { challenges } from '../helpers/ua.js';
import { DEVICE_IP, DOMAIN, infoLogText, mysqlHoldsNoDeviceAddress, registerMetrics, registerWorld } from './world.js';

const w = registerWorld(t, 'register_bindings');

t.test('first REGISTER is challenged with MD5, then SHA-256; the answer stores the binding with the real source', async (t) => {
  const d = w.device({ sourcePort: 5071 });
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

  const [b] = await w.bindingsOf('alice');
  t.ok(b, 'binding stored in Redis');
  t.equal(b!.value.sourceAddress, DEVICE_IP);
  t.equal(b!.value.sourcePort, 5071);
  t.equal(b!.value.transport, 'udp');
  t.equal(b!.value.userAgent, 'TestPhone/1.0');
  t.equal(b!.value.accountSid, w.accountSid);
  t.ok(b!.pttl > 0 && b!.pttl <= 3600_000, `0 < TTL ≤ 3600 s (${b!.pttl} ms)`);
  await w.stores.redis.del(b!.key);
});

t.test('SHA-256 digest (RFC 8760) authenticates too', async (t) => {
  const res = await w.device({ user: 'bob', password: 'builder', algorithm: 'SHA-256' }).register();
  t.equal(res.status, 200);
});

t.test('a re-registration sets the TTL anew: the hour counts from the most recent REGISTER', async (t) => {
  const d = w.device({ sourcePort: 5072 });
  t.equal((await d.register({ expires: 120 })).status, 200);
  const [short] = await w.bindingsOf('alice');
  t.ok(short!.pttl <= 120_000, 'granted 120 s');
  t.equal((await d.once({ expires: 3600 })).status, 200, 'refresh reuses the nonce with the next nonce-count');
  const [long] = await w.bindingsOf('alice');
  t.ok(long!.pttl > 3500_000 && long!.pttl <= 3600_000, `refreshed to ~3600 s (${long!.pttl})`);
  t.equal((await d.once({ expires: 0 })).status, 200);
});

t.test('7200 s requested: 3600 granted, in the reply and in Redis', async (t) => {
  const d = w.device({ sourcePort: 5073 });
  const res = await d.register({ expires: 7200 });
  t.equal(res.status, 200);
  t.match(res.headers.contact, /;expires=3600\b/);
  const [b] = await w.bindingsOf('alice');
  t.ok(b!.pttl <= 3600_000 && b!.pttl > 3590_000, `TTL capped at the policy's hour (${b!.pttl})`);
  t.equal((await d.once({ expires: 0 })).status, 200);
});

t.test('Contact expires parameter wins over the Expires header', async (t) => {
  const d = w.device({ sourcePort: 5074 });
  const res = await d.register({ expires: 3600, contactExpires: 300 });
  t.equal(res.status, 200);
  t.match(res.headers.contact, /;expires=300\b/);
  t.equal((await d.once({ expires: 0 })).status, 200);
});

t.test('30 s with a 60 s minimum: 423 with Min-Expires, nothing stored', async (t) => {
  const d = w.device({ sourcePort: 5075 });
  const res = await d.register({ expires: 30 });
  t.equal(res.status, 423);
  t.equal(res.headers['min-expires'], '60');
  t.same(await w.bindingsOf('alice'), []);
});

t.test('expires 0 removes one binding; Contact * with Expires 0 removes them all', async (t) => {
  const a = w.device({ sourcePort: 5081 });
  const b = w.device({ sourcePort: 5082 });
  t.equal((await a.register()).status, 200);
  const both = await b.register();
  t.equal(both.status, 200);
  t.equal(both.headers.contact!.split(',').length, 2, '200 lists every current binding');
  t.equal((await w.bindingsOf('alice')).length, 2);

  const removed = await a.once({ expires: 0 });
  t.equal(removed.status, 200);
  t.equal((await w.bindingsOf('alice')).length, 1, 'only the first device is gone');
  t.notMatch(removed.headers.contact ?? '', /5081/);

  const all = await b.once({ contact: '*', expires: 0 });
  t.equal(all.status, 200);
  t.same(await w.bindingsOf('alice'), [], 'every binding gone at once');
  t.same(await w.stores.keys(`${w.stores.prefix}aor:{b*}:${w.accountSid}:alice`), [], 'AOR index gone too');
});


t.test('an AOR keeps at most ten bindings, and the 200 listing them stays a small frame', async (t) => {
  const d = w.device({ sourcePort: 5088 });
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
  t.equal((await w.bindingsOf('alice')).length, 10);
  t.equal((await d.once({ contact: '*', expires: 0 })).status, 200, 'the connection still works');
});

t.test('an older REGISTER of the same Call-ID (RFC 3261 10.3 ordering) changes nothing', async (t) => {
  const d = w.device({ sourcePort: 5090 });
  d.cseq = 10;
  t.equal((await d.register({ expires: 3600 })).status, 200);
  const before = await w.bindingsOf('alice');
  d.cseq = 5; // e.g. an un-REGISTER (CSeq 11) and a refresh (CSeq 5) that reached two instances in the wrong order
  const late = await d.once({ expires: 0 });
  t.equal(late.status, 400);
  t.equal(late.reason, 'CSeq Out Of Order');
  t.same((await w.bindingsOf('alice')).map((b) => b.key), before.map((b) => b.key), 'the binding is untouched');
  d.cseq = 12;
  t.equal((await d.once({ expires: 0 })).status, 200, 'a newer one applies');
  t.same(await w.bindingsOf('alice'), []);
});

t.test('making room at ten bindings never evicts the one just written', async (t) => {
  const d = w.device({ sourcePort: 5091 });
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
  const text = infoLogText(w);
  for (const needle of [DEVICE_IP, 'alice', 'wonderland']) t.notOk(text.includes(needle), `no "${needle}" in logs`);
});

t.test('metrics count every outcome without addresses in labels', async (t) => {
  const { body, count } = await registerMetrics(w);
  t.ok(count('ok') >= 5);
  t.ok(count('challenged') >= 5);
  t.equal(count('too_brief'), 1);
  t.notMatch(body, new RegExp(DEVICE_IP.replace(/\./g, '\\.')));
  t.notMatch(body, /alice/);
});

t.test('MySQL holds no device address', (t) => mysqlHoldsNoDeviceAddress(t, w));
