// Malformed SIP from a raw socket through a real drachtio-server: each REGISTER is answered, by drachtio-server
// itself or by the daemon (whose 400s name the header), noise gets no answer, and the daemon keeps serving.
import t, { type Test } from 'tap';
import { freshStores, provision, type Stores } from '../helpers/harness.js';
import { buildRegister } from '../peer/sip-ua.js';
import { Device } from '../helpers/ua.js';
import { startE2eDaemon, type E2eDaemon } from './daemon.js';
import { drachtioBinOrSkip, startDrachtio, type DrachtioServer } from './drachtio-server.js';
import { openSipSocket, type SipSocket } from './sip-socket.js';

const bin = drachtioBinOrSkip(t);
const DOMAIN = 'e2e-bad.example.com';

let stores: Stores;
let drachtio: DrachtioServer;
let daemon: E2eDaemon;
let sock: SipSocket;

t.before(async () => {
  stores = await freshStores('e2e-malformed');
  drachtio = await startDrachtio(bin);
  daemon = await startE2eDaemon(stores, drachtio);
  await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland' });
  sock = await openSipSocket({ serverPort: drachtio.sipPort, address: '127.0.0.8' });
});
t.teardown(async () => {
  await sock?.close();
  await daemon?.stop();
  await drachtio?.stop();
  await stores?.close();
});

const invalidCount = async () => Number(/sip_sidecar_register_requests_total\{result="invalid"\} (\d+)/.exec((await daemon.get('/metrics')).body)?.[1]);
const base = () => ({ user: 'alice', domain: DOMAIN, contactHost: sock.address, contactPort: sock.port });

async function stillServes(t: Test, what: string) {
  const d = new Device((raw) => sock.request(raw), { user: 'alice', password: 'wonderland', domain: DOMAIN, sourceAddress: sock.address, sourcePort: sock.port });
  t.equal((await d.register()).status, 200, `a valid REGISTER still registers after ${what}`);
  t.equal((await d.once({ expires: 0 })).status, 200);
  t.equal(daemon.app.child.exitCode, null, 'the daemon is running');
}

t.test('REGISTERs the daemon refuses itself: 400 naming the header, counted as invalid', async (t) => {
  const cases: [string, string, string][] = [
    ['no Contact', buildRegister(base()).replace(/^Contact:.*\r\n/m, ''), 'Missing Contact Header'],
    ['an unparsable Authorization', buildRegister({ ...base(), authorization: 'Digest username=' }), 'Bad Authorization Header'],
    ['Basic credentials', buildRegister({ ...base(), authorization: 'Basic YWxpY2U6d29uZGVybGFuZA==' }), 'Bad Authorization Header'],
    ['an oversized Contact URI', buildRegister({ ...base(), contact: `<sip:alice@${'a'.repeat(600)}.example>` }), 'Bad Contact URI'],
    ['a To without a user', buildRegister(base()).replace(/^To:.*$/m, `To: <sip:${DOMAIN}>`), 'Bad To Header'],
  ];
  const before = await invalidCount();
  for (const [what, raw, reason] of cases) {
    const res = await sock.request(raw);
    t.equal(res.status, 400, what);
    t.equal(res.reason, reason, `${what}: the reason names the header`);
  }
  t.equal(await invalidCount(), before + cases.length, 'each counted in register_requests_total{result="invalid"}');
  await stillServes(t, 'malformed REGISTERs');
});

t.test('REGISTERs drachtio-server refuses before the daemon sees them', async (t) => {
  const cases: [string, string][] = [
    ['Expires: abc', buildRegister({ ...base(), expires: 'abc' })],
    ['a negative Expires', buildRegister({ ...base(), expires: -5 as number })],
    ['Contact: * with a non-zero Expires', buildRegister({ ...base(), contact: '*', expires: 3600 })],
    // Over a real socket this one is refused by drachtio-server (sofia-sip); test/peer hands it to the daemon.
    ['a Contact without sip:', buildRegister({ ...base(), contact: '<alice@127.0.0.1>' })],
  ];
  const before = await invalidCount();
  for (const [what, raw] of cases) {
    const res = await sock.request(raw);
    t.equal(res.status, 400, `${what}: drachtio-server's own 400 (${res.reason})`);
  }
  t.equal(await invalidCount(), before, 'none reached the daemon');
  await stillServes(t, 'requests drachtio-server refused');
});

t.test('noise gets no answer and harms nothing', async (t) => {
  const before = sock.received.length;
  sock.sendRaw('hello\r\n\r\n');
  sock.sendRaw(Buffer.from([0, 1, 2, 3, 255, 254]));
  sock.sendRaw('REGISTER sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n');
  sock.sendRaw(`REGISTER sip:${DOMAIN} SIP/2.0\r\n${'X-Junk: y\r\n'.repeat(20)}Content-Length: 99999\r\n\r\n`);
  await stillServes(t, 'noise');
  t.equal(sock.received.length - before, 3, 'only the answers to the valid REGISTERs (401, 200, 200) came back');
});
