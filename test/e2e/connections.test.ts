// The daemon's ways of meeting real drachtio-servers: outbound mode (the server connects to us for each
// REGISTER, through <request-handler>), inbound mode across a server crash and restart, and two servers at once.
import t from 'tap';
import { eventually, freshStores, provision, type Stores } from '../helpers/harness.js';
import { freePort } from '../helpers/ports.js';
import { Device } from '../helpers/ua.js';
import { startE2eDaemon } from './daemon.js';
import { drachtioBinOrSkip, startDrachtio, type DrachtioServer } from './drachtio-server.js';
import { openSipSocket, type SipSocket } from './sip-socket.js';
import { describeRun, sippRegister } from './sipp.js';

const bin = drachtioBinOrSkip(t);
const DOMAIN = 'e2e-conn.example.com';

let stores: Stores;
let accountSid: string;
const cleanup: (() => Promise<unknown>)[] = [];

t.before(async () => {
  stores = await freshStores('e2e-connections');
});
t.teardown(async () => {
  for (const c of cleanup.reverse()) await c();
  await stores?.close();
});

async function phone(drachtio: DrachtioServer, address = '127.0.0.1'): Promise<Device> {
  const sock: SipSocket = await openSipSocket({ serverPort: drachtio.sipPort, address });
  cleanup.push(() => sock.close());
  return new Device((raw) => sock.request(raw), { user: 'alice', password: 'wonderland', domain: DOMAIN, sourceAddress: sock.address, sourcePort: sock.port });
}

const bindingCount = async () => (await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:alice:*`)).length;

t.test('outbound mode: drachtio-server hands each REGISTER to the daemon over its own connection', async (t) => {
  const listenPort = await freePort();
  const drachtio = await startDrachtio(bin, { registerHandler: { host: '127.0.0.1', port: listenPort } });
  cleanup.push(() => drachtio.stop());
  // No inbound connection at all (DRACHTIO_PORT is closed): a REGISTER can only reach the daemon outbound.
  const daemon = await startE2eDaemon(stores, null, {
    DRACHTIO_PORT: String(await freePort()), DRACHTIO_LISTEN_PORT: String(listenPort), DRACHTIO_LISTEN_HOST: '127.0.0.1',
  });
  cleanup.push(() => daemon.stop());
  accountSid = await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland' });

  const run = await sippRegister(drachtio.sipPort, { user: 'alice', domain: DOMAIN, password: 'wonderland', expires: 600 });
  t.equal(run.code, 0, 'sipp registered through the outbound connection', run.code === 0 ? {} : { sipp: describeRun(run) });
  t.equal(await bindingCount(), 1, 'binding stored');

  const d = await phone(drachtio, '127.0.0.6');
  t.equal((await d.register({ expires: 300 })).status, 200, 'a second device: challenge and answer on two connections');
  t.equal((await d.once({ expires: 0 })).status, 200, 'un-REGISTER');
  t.equal(await bindingCount(), 1, 'only sipp\'s binding is left');
  await stores.redis.del(...await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:alice:*`));
  await daemon.stop();
  await drachtio.stop();
});

t.test('inbound mode: drachtio-server killed and restarted; the daemon reconnects, routes again and serves', async (t) => {
  const drachtio = await startDrachtio(bin);
  cleanup.push(() => drachtio.stop());
  const daemon = await startE2eDaemon(stores, drachtio);
  cleanup.push(() => daemon.stop());
  accountSid ??= await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland' });

  t.equal((await (await phone(drachtio)).register()).status, 200, 'registers before the crash');
  await drachtio.kill();
  const down = await eventually(async () => {
    const r = await daemon.get('/readyz');
    return r.status === 503 && r.body.includes('drachtio') ? r : null;
  }, 10_000, 50);
  t.ok(down, '/readyz reports drachtio down', { last: await daemon.get('/readyz') });

  await drachtio.restart();
  const back = await eventually(async () => (await daemon.get('/readyz')).status === 200, 15_000, 50);
  t.ok(back, '/readyz ready again after the restart');
  // A route sent twice would make drachtio-server count the daemon twice; a missing one answers 503.
  const after = await phone(drachtio, '127.0.0.7');
  t.equal((await after.register()).status, 200, 'a REGISTER after the restart reaches the daemon');
  t.equal((await after.once({ expires: 0 })).status, 200);
  const metrics = (await daemon.get('/metrics')).body;
  t.match(metrics, /sip_sidecar_dependency_up\{dependency="drachtio"\} 1/, 'the up gauge is back at 1');
});

t.test('two drachtio-servers: REGISTERs through each; one dies, the other still serves', async (t) => {
  const [s0, s1] = [await startDrachtio(bin), await startDrachtio(bin)];
  cleanup.push(() => s0.stop(), () => s1.stop());
  const daemon = await startE2eDaemon(stores, [s0, s1]);
  cleanup.push(() => daemon.stop());
  accountSid ??= await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland' });
  const before = await bindingCount();
  for (const [i, s] of [s0, s1].entries()) {
    const run = await sippRegister(s.sipPort, { user: 'alice', domain: DOMAIN, password: 'wonderland', expires: 600, localIp: `127.0.1.${i + 1}` });
    t.equal(run.code, 0, `sipp registered through server ${i}`, run.code === 0 ? {} : { sipp: describeRun(run) });
  }
  t.equal(await bindingCount(), before + 2, 'one binding per device');
  await s0.kill();
  const gauges = await eventually(async () => {
    const m = (await daemon.get('/metrics')).body;
    return /sip_sidecar_drachtio_up\{server="0"\} 0/.test(m) && /sip_sidecar_drachtio_up\{server="1"\} 1/.test(m) ? m : null;
  }, 10_000, 50);
  t.ok(gauges, 'drachtio_up: server 0 down, server 1 up');
  t.equal((await daemon.get('/readyz')).status, 200, 'ready through the server that is left');
  const d = await phone(s1, '127.0.1.3');
  t.equal((await d.register()).status, 200, 'registers through server 1');
  t.equal((await d.once({ expires: 0 })).status, 200);
});
