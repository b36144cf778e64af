// Outbound mode: drachtio-server opens one TCP connection per REGISTER to the daemon's
// DRACHTIO_LISTEN_PORT; the daemon authenticates, answers and ends the session.
import t from 'tap';
import { DrachtioPeer, sendOutbound } from '../peer/drachtio-peer.js';
import { freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { Device } from '../helpers/ua.js';

let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let accountSid: string;

t.before(async () => {
  stores = await freshStores('outbound');
  peer = await DrachtioPeer.listen();
  daemon = await startDaemon(stores, peer, { listen: true });
  accountSid = await provision(stores.pool, { realm: 'out.example.com', user: 'carol', password: 'pw-carol' });
});
t.teardown(async () => {
  await daemon.close();
  await peer.close();
  await stores.close();
});

t.test('challenge and authenticated REGISTER over per-request connections, each closed by the daemon', async (t) => {
  const closed: boolean[] = [];
  const port = daemon.sidecar.listenPort!;
  t.ok(port > 0, 'listening for drachtio-server');
  const d = new Device(async (raw, meta) => {
    const r = await sendOutbound({ port }, raw, meta);
    closed.push(r.closedByApp);
    return r.response;
  }, { user: 'carol', password: 'pw-carol', domain: 'out.example.com', sourceAddress: '192.0.2.44', sourcePort: 5099, transport: 'tcp' });

  const res = await d.register();
  t.equal(res.status, 200);
  t.same(closed, [true, true], 'srf.endSession closed both connections');
  const keys = await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:carol:*`);
  t.equal(keys.length, 1);
  const b = JSON.parse((await stores.redis.get(keys[0]!))!);
  t.equal(b.sourceAddress, '192.0.2.44');
  t.equal(b.transport, 'tcp');
});
