// NAT-aware expiry: which devices count as behind a NAT (lib/register/nat.ts), and what the daemon grants
// them through test/peer — in the 200, in Redis, in the behind-NAT gauge — with REGISTER_NAT_EXPIRES on and off.
import t from 'tap';
import { loadConfig } from '../../config/index.js';
import { behindNat } from '../../lib/register/nat.js';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { Device } from '../helpers/ua.js';
import { gauge, scrape } from '../calls/helpers.js';

t.test('behindNat: UDP only; a Contact host other than the source, or a private one, is behind a NAT', async (t) => {
  const cases: [string, string, string, boolean, string][] = [
    ['sip:a@203.0.113.5:5060', '203.0.113.5', 'udp', false, 'public Contact equal to the source'],
    ['sip:a@192.168.1.20:5060', '203.0.113.5', 'udp', true, 'private Contact, public source'],
    ['sip:a@198.51.100.7:5060', '203.0.113.5', 'udp', true, 'public Contact, another public source'],
    ['sip:a@192.168.1.20:5060', '203.0.113.5', 'tcp', false, 'TCP keeps its connection'],
    ['sip:a@192.168.1.20:5060', '203.0.113.5', 'TLS', false, 'TLS likewise'],
    ['sip:a@192.168.1.20:5060', '192.168.1.20', 'udp', true, 'private and equal: may be a STUN or ALG address behind a private-outside NAT'],
    ['sip:a@10.1.2.3', '10.1.2.3', 'udp', true, 'RFC 1918 10/8'],
    ['sip:a@172.20.0.9', '172.20.0.9', 'udp', true, 'RFC 1918 172.16/12'],
    ['sip:a@100.64.3.4', '100.64.3.4', 'udp', true, 'RFC 6598 shared address space (carrier-grade NAT)'],
    ['sip:a@172.32.0.1', '172.32.0.1', 'udp', false, 'just outside 172.16/12'],
    ['sip:a@127.0.0.1:5062', '127.0.0.1', 'udp', false, 'loopback equal to the source: the packet never left the host'],
    ['sip:a@127.0.0.1:5062', '127.0.0.9', 'udp', true, 'loopback Contact from another address'],
    ['sip:a@127.0.0.1:5062', '203.0.113.5', 'udp', true, 'loopback Contact from a public source'],
    ['sip:a@169.254.10.1', '169.254.10.1', 'udp', false, 'link-local equal to the source: same link, no router between'],
    ['sip:a@169.254.10.1', '203.0.113.5', 'udp', true, 'link-local Contact from a public source'],
    ['sip:a@phone.example.com', '203.0.113.5', 'udp', true, 'a hostname is never the source address'],
    ['sip:a@[2001:db8::1]:5060', '2001:db8:0:0:0:0:0:1', 'udp', false, 'IPv6: one address, two spellings'],
    ['sip:a@[fd00::5]', 'fd00::5', 'udp', true, 'IPv6 unique local (fc00::/7)'],
    ['sip:a@[::1]', '::1', 'udp', false, 'IPv6 loopback equal'],
    ['sip:a@[fe80::1]', '2001:db8::9', 'udp', true, 'IPv6 link-local Contact from a global source'],
    ['sip:a@203.0.113.5', '::ffff:203.0.113.5', 'udp', false, 'an IPv4-mapped source is the IPv4 address'],
    ['not a uri', '203.0.113.5', 'udp', true, 'an unreadable Contact cannot be reached directly'],
  ];
  for (const [contact, source, transport, want, why] of cases) t.equal(behindNat(contact, source, transport), want, why);
});

const DOMAIN = 'nat.example.com';
let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let accountSid: string;

t.before(async () => {
  stores = await freshStores('nat');
  peer = await DrachtioPeer.listen();
  daemon = await startDaemon(stores, peer);
  accountSid = await provision(stores.pool, { realm: DOMAIN, user: 'nat', password: 'pinhole' });
});
t.teardown(async () => {
  await daemon.close();
  await peer.close();
  await stores.close();
});

const device = (o: Partial<Device['o']>) => Device.via(peer, { user: 'nat', password: 'pinhole', domain: DOMAIN, ...o });

async function bindings() {
  const keys = await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:nat:*`);
  return Promise.all(keys.map(async (key) => ({ value: JSON.parse((await stores.redis.get(key))!), pttl: await stores.redis.pttl(key) })));
}

t.test('a UDP device registering a private Contact from a public address gets 30 s, in the 200 and in Redis', async (t) => {
  const d = device({ sourceAddress: '203.0.113.40', sourcePort: 40_001 });
  const res = await d.register({ expires: 3600, contactHost: '192.168.1.20', contactPort: 5060 });
  t.equal(res.status, 200);
  t.match(res.headers.contact, /<sip:nat@192\.168\.1\.20:5060>;expires=30$/, 'the device is told 30 s');
  const [b] = await bindings();
  t.ok(b && b.pttl > 25_000 && b.pttl <= 30_000, `binding TTL = the granted 30 s (${b?.pttl} ms)`);
  t.equal(b?.value.behindNat, true);
  t.equal(b?.value.sourceAddress, '203.0.113.40', 'the address a call must be sent to');
  t.equal(gauge(await scrape(daemon), 'bindings_behind_nat'), 1, 'counted behind NAT');
  t.equal(gauge(await scrape(daemon), 'bindings_active'), 1);

  // A refresh that asks for less keeps the smaller value; removal still removes.
  t.match((await d.once({ expires: 0, contactHost: '192.168.1.20', contactPort: 5060 })).status, 200);
  t.same(await bindings(), []);
  t.equal(gauge(await scrape(daemon), 'bindings_behind_nat'), 0, 'the gauge follows the removal');
});

t.test('the same device over TCP, and one whose Contact is its public source, keep the requested expiry', async (t) => {
  const tcp = device({ sourceAddress: '203.0.113.41', sourcePort: 40_002, transport: 'tcp' });
  const r1 = await tcp.register({ expires: 600, contactHost: '192.168.1.21', contactPort: 5060 });
  t.equal(r1.status, 200);
  t.match(r1.headers.contact, /;expires=600$/);
  const direct = device({ sourceAddress: '203.0.113.42', sourcePort: 40_003 });
  const r2 = await direct.register({ expires: 600 });
  t.equal(r2.status, 200);
  t.match(r2.headers.contact, /expires=600/);
  const all = await bindings();
  t.equal(all.length, 2);
  t.ok(all.every((b) => b.value.behindNat === false && b.pttl > 590_000), 'neither is behind a NAT');
  t.equal(gauge(await scrape(daemon), 'bindings_behind_nat'), 0);
  await tcp.once({ expires: 0, contactHost: '192.168.1.21', contactPort: 5060 });
  await direct.once({ expires: 0 });
});

t.test('a private source equal to its Contact counts as behind a NAT; a shorter request than the cap is kept', async (t) => {
  const d = device({ sourceAddress: '10.20.30.40', sourcePort: 40_004 });
  const res = await d.register({ expires: 3600 });
  t.match(res.headers.contact, /;expires=30$/);
  // 20 s requested is below REGISTER_MIN_EXPIRES (60): the minimum applies to what is asked, before the NAT cap.
  t.equal((await d.once({ expires: 20 })).status, 423);
  await d.once({ expires: 0 });
});

t.test('REGISTER_NAT_EXPIRES=0 turns the cap off; the device is still counted behind NAT', async (t) => {
  const peer2 = await DrachtioPeer.listen();
  const off = await startDaemon(stores, peer2, { env: { REGISTER_NAT_EXPIRES: '0' } });
  try {
    const d = Device.via(peer2, { user: 'nat', password: 'pinhole', domain: DOMAIN, sourceAddress: '203.0.113.43', sourcePort: 41_000 });
    const res = await d.register({ expires: 3600, contactHost: '192.168.1.22', contactPort: 6000 });
    t.match(res.headers.contact, /;expires=3600$/, 'granted what was asked');
    const [b] = await bindings();
    t.ok(b && b.pttl > 3590_000, `TTL ${b?.pttl} ms`);
    t.equal(b?.value.behindNat, true, 'recorded as behind NAT all the same');
    t.equal(gauge(await scrape(off), 'bindings_behind_nat'), 1);
    await d.once({ expires: 0, contactHost: '192.168.1.22', contactPort: 6000 });
  } finally {
    await off.close();
    await peer2.close();
  }
});

t.test('REGISTER_NAT_EXPIRES: default 30, 0 allowed, at most the policy hour', async (t) => {
  const nat = (env: Record<string, string>) => loadConfig(env).register.natExpires;
  t.equal(nat({}), 30);
  t.equal(nat({ REGISTER_NAT_EXPIRES: '0' }), 0);
  t.throws(() => nat({ REGISTER_NAT_EXPIRES: '3601' }), /REGISTER_NAT_EXPIRES must be a whole number from 0 to 3600/);
});
