// REGISTER through a real drachtio-server v0.9.10 (inbound mode), from sipp and from the test UA over real
// UDP and TCP sockets: what a phone sees, and what lands in Redis.
import t from 'tap';
import { freshStores, provision, type Stores } from '../helpers/harness.js';
import { Device, challenges } from '../helpers/ua.js';
import { startE2eDaemon, type E2eDaemon } from './daemon.js';
import { drachtioBinOrSkip, startDrachtio, type DrachtioServer } from './drachtio-server.js';
import { openSipSocket, type SipSocket } from './sip-socket.js';
import { describeRun, sippRegister } from './sipp.js';

const bin = drachtioBinOrSkip(t);
const DOMAIN = 'e2e-reg.example.com';

let stores: Stores;
let drachtio: DrachtioServer;
let daemon: E2eDaemon;
let accountSid: string;
const sockets: SipSocket[] = [];

t.before(async () => {
  stores = await freshStores('e2e-register');
  drachtio = await startDrachtio(bin);
  daemon = await startE2eDaemon(stores, drachtio, { AUTH_FAIL_LIMIT: '3' });
  accountSid = await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland' });
  await provision(stores.pool, { realm: DOMAIN, user: 'bob', password: 'builder' });
});
t.teardown(async () => {
  for (const s of sockets) await s.close();
  await daemon?.stop();
  await drachtio?.stop();
  await stores?.close();
});

async function bindingsOf(user: string) {
  const keys = await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:${user}:*`);
  return Promise.all(keys.map(async (key) => ({ key, value: JSON.parse((await stores.redis.get(key))!), pttl: await stores.redis.pttl(key) })));
}

/** A phone on a real socket from `address` (each 127.x.y.z is its own source address to drachtio-server). */
async function phone(o: { user?: string; password?: string; algorithm?: 'MD5' | 'SHA-256'; transport?: 'udp' | 'tcp'; address?: string } = {}) {
  const sock = await openSipSocket({ serverPort: drachtio.sipPort, transport: o.transport, address: o.address });
  sockets.push(sock);
  const device = new Device((raw) => sock.request(raw), {
    user: o.user ?? 'alice', password: o.password ?? 'wonderland', domain: DOMAIN,
    sourceAddress: sock.address, sourcePort: sock.port, algorithm: o.algorithm, transport: o.transport,
  });
  return { sock, device };
}


t.test('sipp (MD5 only) registers with the default configuration', async (t) => {
  const run = await sippRegister(drachtio.sipPort, { user: 'alice', domain: DOMAIN, password: 'wonderland' });
  t.equal(run.code, 0, 'sipp: challenged, then 200', run.code === 0 ? {} : { sipp: describeRun(run) });
  t.match(run.messages, /uri="sip:127\.0\.0\.1:\d+"/, 'sipp put the server address in the digest uri, not the Request-URI');
  const bindings = await bindingsOf('alice');
  t.equal(bindings.length, 1, 'one binding stored');
  const [b] = bindings;
  t.equal(b!.value.sourceAddress, '127.0.0.1');
  t.equal(b!.value.transport, 'udp');
  t.equal(b!.value.userAgent, 'sipp');
  t.ok(b!.pttl > 0 && b!.pttl <= 3600_000, `0 < TTL ≤ 3600 s (${b!.pttl} ms)`);
  await stores.redis.del(b!.key);
});

t.test('sipp with a wrong password gets 403', async (t) => {
  const run = await sippRegister(drachtio.sipPort, { user: 'bob', domain: DOMAIN, password: 'not-the-builder', final: 403, localIp: '127.0.0.3' });
  t.equal(run.code, 0, 'sipp: challenged, then 403', run.code === 0 ? {} : { sipp: describeRun(run) });
  t.same(await bindingsOf('bob'), [], 'nothing stored');
});

t.test('the test UA answers the SHA-256 challenge over real UDP', async (t) => {
  const { sock, device } = await phone({ user: 'bob', password: 'builder', algorithm: 'SHA-256' });
  const first = await device.once();
  t.equal(first.status, 401);
  t.same(challenges(first.headers['www-authenticate']).map((c) => c.algorithm), ['MD5', 'SHA-256'], 'one challenge per algorithm, MD5 first');
  device.learn(first);
  const ok = await device.once();
  t.equal(ok.status, 200);
  t.match(ok.headers.contact, new RegExp(`<sip:bob@127\\.0\\.0\\.1:${sock.port}>;expires=3600`));
  const [b] = await bindingsOf('bob');
  t.equal(b?.value.sourcePort, sock.port, 'the source port drachtio-server saw');
  t.equal((await device.once({ expires: 0 })).status, 200);
});

t.test('over TCP the binding records transport tcp', async (t) => {
  const { device } = await phone({ transport: 'tcp', address: '127.0.0.4' });
  t.equal((await device.register()).status, 200);
  const [b] = await bindingsOf('alice');
  t.equal(b?.value.transport, 'tcp');
  t.equal(b?.value.sourceAddress, '127.0.0.4');
  t.equal((await device.once({ expires: 0 })).status, 200);
  t.same(await bindingsOf('alice'), [], 'removed');
});

t.test('a re-REGISTER sets the TTL anew; Expires: 0 removes the binding', async (t) => {
  const { device } = await phone();
  t.equal((await device.register({ expires: 120 })).status, 200);
  const [short] = await bindingsOf('alice');
  t.ok(short && short.pttl <= 120_000 && short.pttl > 110_000, `granted 120 s (${short?.pttl} ms)`);
  const refreshed = await device.once({ expires: 3600 });
  t.equal(refreshed.status, 200, 'the refresh reuses the nonce with the next nonce-count');
  const [long] = await bindingsOf('alice');
  t.ok(long && long.pttl > 3500_000 && long.pttl <= 3600_000, `refreshed to ~3600 s (${long?.pttl} ms)`);
  t.equal((await device.once({ expires: 0 })).status, 200);
  t.same(await bindingsOf('alice'), [], 'no binding left');
});

t.test('too brief an expiry gets 423 with Min-Expires', async (t) => {
  const { device } = await phone();
  const res = await device.register({ expires: 30 });
  t.equal(res.status, 423);
  t.equal(res.headers['min-expires'], '60');
  t.same(await bindingsOf('alice'), []);
});

t.test('a source that keeps failing is blocked; other sources still register', async (t) => {
  const { device } = await phone({ address: '127.0.0.2', password: 'guess' });
  device.learn(await device.once());
  for (let i = 0; i < 3; i++) t.equal((await device.once()).status, 403, `failure ${i + 1}`);
  const right = await device.once({}, { password: 'wonderland' });
  t.equal(right.status, 403, 'blocked: even the right password is refused from that address');
  // A new phone at the blocked address: the challenge says nothing (answered without asking Redis), its answer
  // with the right password is refused all the same and stores nothing.
  const { device: next } = await phone({ address: '127.0.0.2', user: 'bob', password: 'builder' });
  const challenge = await next.once();
  t.equal(challenge.status, 401, 'a REGISTER without credentials from a blocked source: challenged');
  next.learn(challenge);
  t.equal((await next.once()).status, 403, 'answered with the right password: 403');
  t.same(await bindingsOf('bob'), [], 'no binding for the blocked source');
  const other = await phone({ address: '127.0.0.5' });
  t.equal((await other.device.register()).status, 200, 'another address is not affected');
  t.equal((await other.device.once({ expires: 0 })).status, 200);
});

t.test('ten bindings of one AOR over UDP: the 200 lists them all; an eleventh replaces the oldest', async (t) => {
  const { sock, device } = await phone({ address: '127.0.0.9' });
  const contact = (i: number) => `<sip:alice@127.0.0.9:${sock.port};line=${i};x=${'y'.repeat(120)}>`;
  const batch = (from: number) => Array.from({ length: 5 }, (_, i) => contact(from + i)).join(', ');
  t.equal((await device.register({ contact: batch(0) })).status, 200);
  const ten = await device.once({ contact: batch(5) });
  t.equal(ten.status, 200);
  t.equal(ten.headers.contact?.split(/,\s*</).length, 10, `all ten listed in a ${Buffer.byteLength(ten.raw)}-byte UDP response`);
  const eleven = await device.once({ contact: contact(10) });
  t.equal(eleven.headers.contact?.split(/,\s*</).length, 10, 'still ten: the oldest made room');
  t.equal((await bindingsOf('alice')).length, 10);
  t.equal((await device.once({ contact: '*', expires: 0 })).status, 200, 'Contact: * removes them all');
  t.same(await bindingsOf('alice'), []);
});
