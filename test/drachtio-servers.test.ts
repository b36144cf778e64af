// Several drachtio-servers (DRACHTIO_SERVERS): one connection to each, REGISTERs served through each, a leg
// whose events arrive through two servers still gives one row, and readiness follows the servers one by one.
import t from 'tap';
import { DrachtioPeer } from './peer/drachtio-peer.js';
import { eventually, freshStores, provision, startDaemon, type Daemon, type Stores } from './helpers/harness.js';
import { Device } from './helpers/ua.js';
import { CDR_VERBS, leg, tod, waitRows } from './calls/helpers.js';

const DOMAIN = 'servers.example.com';
let stores: Stores;
let a: DrachtioPeer;
let b: DrachtioPeer;
let daemon: Daemon;

t.before(async () => {
  stores = await freshStores('drachtio-servers');
  a = await DrachtioPeer.listen();
  b = await DrachtioPeer.listen();
  daemon = await startDaemon(stores, [a, b]);
  await a.waitForRoutes(CDR_VERBS);
  await b.waitForRoutes(CDR_VERBS);
  await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland', numbers: ['15557770001'] });
});
t.teardown(async () => {
  await daemon.close();
  await a.close();
  await b.close();
  await stores.close();
});

const readyz = async () => {
  const r = await fetch(`${daemon.httpUrl}/readyz`);
  return { status: r.status, body: await r.json() as { down?: string[] } };
};
const upGauge = async (server: string) => (await daemon.metrics.drachtioUp.get()).values.find((v) => v.labels.server === server)?.value;

t.test('the daemon serves REGISTERs through each drachtio-server', async (t) => {
  t.equal(a.clientCount, 1, 'connected to server 0');
  t.equal(b.clientCount, 1, 'connected to server 1');
  for (const [name, peer] of [['server 0', a], ['server 1', b]] as const) {
    const d = Device.via(peer, { user: 'alice', password: 'wonderland', domain: DOMAIN, sourceAddress: '198.51.100.40' });
    t.equal((await d.register()).status, 200, `registered through ${name}`);
    t.equal((await d.once({ expires: 0 })).status, 200);
  }
});

t.test('a leg attempted through one server and ended through the other gives one row', async (t) => {
  const l = leg({ fromUser: '15550001111', toUser: '15557770001', toHost: DOMAIN, sourceIp: '198.51.100.41' });
  const now = new Date().toISOString();
  await a.sendCdr('attempt', 'network', tod(now), l.invite);
  await b.sendCdr('start', 'application', tod(now), 'uas', l.ok);
  await a.sendCdr('stop', 'network', tod(now), 'normal-release', l.bye);
  const rows = await waitRows(stores.pool, l.callId, 1);
  t.equal(rows.length, 1, 'one row');
  t.equal(rows[0]!.answered, 1, 'the start seen through server 1 counted');
});

t.test('readiness: ready while one server is connected; each server has its own gauge', async (t) => {
  t.same([await upGauge('0'), await upGauge('1')], [1, 1]);
  await a.close();
  t.ok(await eventually(async () => (await upGauge('0')) === 0), 'server 0 reported down');
  t.equal(await upGauge('1'), 1, 'server 1 still up');
  t.equal((await readyz()).status, 200, 'still ready: REGISTERs and CDRs flow through server 1');
  await b.close();
  t.ok(await eventually(async () => (await readyz()).status === 503), 'not ready once no server is connected');
  t.same((await readyz()).body.down, ['drachtio']);
});
