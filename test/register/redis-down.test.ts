// Redis taken away from the daemon (through a TCP proxy we cut; the shared Redis keeps
// running): REGISTER gets 503 with Retry-After, never a 200; /readyz says why; both
// recover by themselves when Redis is back.
import t from 'tap';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { startCutProxy, type CutProxy } from '../helpers/tcp-proxy.js';
import { Device } from '../helpers/ua.js';

let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let proxy: CutProxy;

t.before(async () => {
  stores = await freshStores('redisdown');
  peer = await DrachtioPeer.listen();
  proxy = await startCutProxy(6379);
  daemon = await startDaemon(stores, peer, { env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_COMMAND_TIMEOUT_MS: '300' } });
  await provision(stores.pool, { realm: 'down.example.com', user: 'dave', password: 'pw-dave' });
});
t.teardown(async () => {
  await daemon.close();
  await peer.close();
  await proxy.close();
  await stores.close();
});

const readyz = async () => {
  const r = await fetch(`${daemon.httpUrl}/readyz`);
  return { status: r.status, body: await r.json() as { down?: string[] } };
};

t.test('503 while Redis is unreachable, 200 again once it is back', async (t) => {
  const d = Device.via(peer, { user: 'dave', password: 'pw-dave', domain: 'down.example.com', sourceAddress: '192.0.2.50' });
  t.equal((await d.register()).status, 200);
  t.equal((await readyz()).status, 200);

  proxy.cut();
  const res = await d.once();
  t.equal(res.status, 503);
  t.equal(res.headers['retry-after'], '5');
  const notReady = await eventually(async () => { const r = await readyz(); return r.status === 503 ? r : null; });
  t.same(notReady?.body.down, ['redis']);
  t.ok(daemon.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('(REDIS_URL)')), 'the log names REDIS_URL');

  proxy.restore();
  const back = await eventually(async () => ((await d.register()).status === 200 ? true : null), 10_000, 200);
  t.ok(back, 'REGISTER succeeds again');
  t.equal((await eventually(async () => ((await readyz()).status === 200 ? 200 : null))), 200, '/readyz recovers');
  const body = await (await fetch(`${daemon.httpUrl}/metrics`)).text();
  t.match(body, /sip_sidecar_register_requests_total\{result="unavailable"\} [1-9]/);
});
