// Through a real drachtio-server: phones register over UDP and TCP (one behind a NAT, which gets the short
// expiry), a drachtio-srf call app (test/e2e/location-example.ts, the README's example) finds each one with
// LOCATION_TOKEN and calls it — the INVITE reaches the phone's own socket with its Contact as Request-URI.
import Srf from 'drachtio-srf';
import t from 'tap';
import { eventually, freshStores, provision, type Stores } from '../helpers/harness.js';
import { Device } from '../helpers/ua.js';
import { buildResponse, buildSdp } from '../peer/sip-ua.js';
import { findHeader } from '../peer/sip.js';
import { startE2eDaemon, type E2eDaemon } from './daemon.js';
import { drachtioBinOrSkip, SECRET, startDrachtio, type DrachtioServer } from './drachtio-server.js';
import { inviteBinding, locate } from './location-example.js';
import { openSipSocket, type SipSocket } from './sip-socket.js';

const bin = drachtioBinOrSkip(t);
const DOMAIN = 'e2e-loc.example.com';
const TOKEN = 'e2e-location-token-0123';

let stores: Stores;
let drachtio: DrachtioServer;
let daemon: E2eDaemon;
let accountSid: string;
let app: InstanceType<typeof Srf>;
const sockets: SipSocket[] = [];

t.before(async () => {
  stores = await freshStores('e2e-location');
  drachtio = await startDrachtio(bin);
  daemon = await startE2eDaemon(stores, drachtio, { LOCATION_TOKEN: TOKEN });
  accountSid = await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland' });
  // The call app: its own drachtio-srf connection to the same drachtio-server, as a routing app has.
  app = new Srf();
  const connected = new Promise<void>((resolve, reject) => {
    app.on('connect', (err) => (err ? reject(err) : resolve()));
  });
  app.connect({ host: '127.0.0.1', port: drachtio.adminPort, secret: SECRET });
  await connected;
});
t.teardown(async () => {
  app?.disconnect();
  for (const s of sockets) await s.close();
  await daemon?.stop();
  await drachtio?.stop();
  await stores?.close();
});

/** A phone on a real socket that answers an INVITE with 200 (and its SDP), and a BYE with 200. */
async function phone(o: { transport: 'udp' | 'tcp'; address: string; contactHost?: string; contactPort?: number }) {
  const sock = await openSipSocket({ serverPort: drachtio.sipPort, transport: o.transport, address: o.address });
  sockets.push(sock);
  sock.answer((req) => {
    if (req.method === 'INVITE') return [buildResponse(req.raw, 180), buildResponse(req.raw, 200, { toTag: 'phone', contactHost: o.address, contactPort: sock.port })];
    if (req.method === 'BYE') return [buildResponse(req.raw, 200, { sdp: false })];
    return [];
  });
  const device = new Device((raw) => sock.request(raw), {
    user: 'alice', password: 'wonderland', domain: DOMAIN, sourceAddress: sock.address, sourcePort: sock.port, transport: o.transport,
  });
  const extra = { contactHost: o.contactHost ?? sock.address, contactPort: o.contactPort ?? sock.port };
  return { sock, device, extra };
}

const ttlOf = async (contactHost: string) => {
  for (const key of await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:alice:*`)) {
    if ((await stores.redis.get(key))!.includes(`@${contactHost}`)) return stores.redis.pttl(key);
  }
  return null;
};

t.test('a UDP phone behind a NAT gets 30 s; the call app finds it and its INVITE crosses the NAT to the phone', async (t) => {
  // Registers sip:alice@10.11.12.13:5060 (its address inside the NAT) from 127.0.0.6 (the NAT's outside).
  const { sock, device, extra } = await phone({ transport: 'udp', address: '127.0.0.6', contactHost: '10.11.12.13', contactPort: 5060 });
  const reg = await device.register({ expires: 3600, ...extra });
  t.equal(reg.status, 200);
  t.match(reg.headers.contact, /<sip:alice@10\.11\.12\.13:5060>;expires=30$/, 'behind a NAT: told to come back within 30 s');
  const ttl = await ttlOf('10.11.12.13');
  t.ok(ttl !== null && ttl > 25_000 && ttl <= 30_000, `binding TTL = the granted 30 s (${ttl} ms)`);
  const metrics = await daemon.get('/metrics');
  t.match(metrics.body, /^sip_sidecar_bindings_behind_nat 1$/m, 'counted behind NAT');

  const [b, ...rest] = await locate(daemon.url, TOKEN, `alice@${DOMAIN}`);
  t.same(rest, []);
  t.match(b, { contact: 'sip:alice@10.11.12.13:5060', source_address: '127.0.0.6', source_port: sock.port, transport: 'udp' });
  t.ok(b!.expires_in <= 30);

  const dialog = await inviteBinding(app, b!, { from: `<sip:router@${DOMAIN}>`, localSdp: buildSdp('127.0.0.1', 42_000) });
  const invite = await sock.waitForRequest((r) => r.method === 'INVITE', 'INVITE');
  t.equal(invite.uri, 'sip:alice@10.11.12.13:5060', 'the Request-URI is the registered Contact');
  t.match(findHeader(invite.parts, 'Via'), /^SIP\/2\.0\/UDP /, 'over UDP, to the socket the phone registered from');
  t.match(invite.parts.body, /m=audio 42000/, 'with the app\'s offer');
  t.match(dialog.remote.sdp, /m=audio 41000/, 'the phone\'s answer reached the app: a call is up');
  await sock.waitForRequest((r) => r.method === 'ACK', 'ACK');
  dialog.destroy();
  await sock.waitForRequest((r) => r.method === 'BYE', 'BYE');
  t.equal((await device.once({ expires: 0, ...extra })).status, 200);
  t.same(await locate(daemon.url, TOKEN, `alice@${DOMAIN}`), [], 'unregistered: no longer found');
});

t.test('a TCP phone is called over the connection it registered on; a UDP phone on this host keeps its expiry', async (t) => {
  const tcp = await phone({ transport: 'tcp', address: '127.0.0.7' });
  t.match((await tcp.device.register({ expires: 600, ...tcp.extra })).headers.contact, /;expires=600$/);
  const udp = await phone({ transport: 'udp', address: '127.0.0.8' });
  const direct = await udp.device.register({ expires: 600, ...udp.extra });
  t.match(direct.headers.contact, /;expires=600$/, 'Contact = its loopback source: not behind a NAT');

  const found = await locate(daemon.url, TOKEN, `alice@${DOMAIN}`);
  t.same(found.map((b) => [b.transport, b.source_address]), [['udp', '127.0.0.8'], ['tcp', '127.0.0.7']], 'most recent first');
  const b = found.find((x) => x.transport === 'tcp')!;
  const dialog = await inviteBinding(app, b, { from: `<sip:router@${DOMAIN}>`, localSdp: buildSdp('127.0.0.1', 42_002) });
  const invite = await tcp.sock.waitForRequest((r) => r.method === 'INVITE', 'INVITE over TCP');
  t.equal(invite.uri, `sip:alice@127.0.0.7:${tcp.sock.port}`);
  t.match(findHeader(invite.parts, 'Via'), /^SIP\/2\.0\/TCP /, 'over TCP, on the connection the phone keeps open');
  dialog.destroy();
  await tcp.sock.waitForRequest((r) => r.method === 'BYE', 'BYE over TCP');
  t.equal((await tcp.device.once({ expires: 0, ...tcp.extra })).status, 200);
  t.equal((await udp.device.once({ expires: 0, ...udp.extra })).status, 200);
  t.ok(await eventually(async () => (await locate(daemon.url, TOKEN, `alice@${DOMAIN}`)).length === 0), 'both gone');
});
