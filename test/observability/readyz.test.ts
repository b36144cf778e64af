// MySQL taken away from the daemon (through a TCP proxy we cut; the shared MariaDB keeps
// running): /readyz and sip_sidecar_dependency_up name it within one ping (every 5 s),
// and both recover by themselves once it is back. (Redis: test/register/redis-down.test.ts.)
import t from 'tap';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { startCutProxy, type CutProxy } from '../helpers/tcp-proxy.js';
import { scrape, valueOf } from './prom.js';

let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let proxy: CutProxy;

t.before(async () => {
  stores = await freshStores('obsreadyz');
  peer = await DrachtioPeer.listen();
  proxy = await startCutProxy(3306);
  daemon = await startDaemon(stores, peer, { env: { MYSQL_URL: `mysql://root@127.0.0.1:${proxy.port}/${stores.database}` } });
});
t.teardown(async () => {
  await daemon.close();
  await peer.close();
  await proxy.close();
  await stores.close();
});

const readyz = async () => {
  const r = await fetch(`${daemon.httpUrl}/readyz`);
  return { status: r.status, body: await r.json() as { status: string; down?: string[] } };
};
const mysqlUp = async () => valueOf((await scrape(daemon.httpUrl)).parsed, 'sip_sidecar_dependency_up', { dependency: 'mysql' });
const unreachableLines = () => daemon.logs.filter((l) => l.msg === 'MySQL unreachable (MYSQL_URL)').length;

t.test('MySQL down: /readyz 503 naming mysql, dependency_up 0; back: 200 and 1', async (t) => {
  t.same(await readyz(), { status: 200, body: { status: 'ready' } });
  t.equal(await mysqlUp(), 1);

  proxy.cut();
  const down = await eventually(async () => { const r = await readyz(); return r.status === 503 ? r : null; }, 8000, 100);
  t.same(down, { status: 503, body: { status: 'not ready', down: ['mysql'] } }, 'only mysql is down');
  t.equal(await mysqlUp(), 0, 'sip_sidecar_dependency_up{dependency="mysql"} 0');
  for (const d of ['drachtio', 'redis']) {
    t.equal(valueOf((await scrape(daemon.httpUrl)).parsed, 'sip_sidecar_dependency_up', { dependency: d }), 1, `${d} still up`);
  }
  t.equal(unreachableLines(), 1, 'the log names MYSQL_URL once');

  proxy.restore();
  const back = await eventually(async () => ((await readyz()).status === 200 ? true : null), 8000, 100);
  t.ok(back, '/readyz recovers by itself');
  t.equal(await mysqlUp(), 1, 'sip_sidecar_dependency_up{dependency="mysql"} 1 again');
  t.equal(unreachableLines(), 1, 'still one line: not one per ping');
});
