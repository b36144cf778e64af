// The REGISTER path end to end, shared by its test files: the drachtio peer drives the real daemon
// over TCP, bindings land in the real Redis, credentials come from the real MariaDB; and the
// checks that nothing the tests sent leaks into logs, metrics or MySQL.
import type { Test } from 'tap';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { Device } from '../helpers/ua.js';

export const DOMAIN = 'reg.example.com';
export const DEVICE_IP = '198.51.100.23';

export interface RegisterWorld {
  stores: Stores;
  peer: DrachtioPeer;
  daemon: Daemon;
  accountSid: string;
  device(o?: Partial<Device['o']>): Device;
  bindingsOf(user: string): Promise<{ key: string; value: Record<string, unknown>; pttl: number }[]>;
}

/** A daemon, a peer and the accounts alice and bob, on a database and key prefix named `name`. */
export function registerWorld(t: Test, name: string): RegisterWorld {
  const w = {
    device: (o: Partial<Device['o']> = {}) =>
      Device.via(w.peer, { user: 'alice', password: 'wonderland', domain: DOMAIN, sourceAddress: DEVICE_IP, sourcePort: 5070, ...o }),
    async bindingsOf(user: string) {
      const keys = await w.stores.keys(`${w.stores.prefix}bind:{b*}:${w.accountSid}:${user}:*`);
      return Promise.all(keys.map(async (key) => ({
        key, value: JSON.parse((await w.stores.redis.get(key))!) as Record<string, unknown>, pttl: await w.stores.redis.pttl(key),
      })));
    },
  } as RegisterWorld;
  t.before(async () => {
    w.stores = await freshStores(name);
    w.peer = await DrachtioPeer.listen();
    w.daemon = await startDaemon(w.stores, w.peer);
    w.accountSid = await provision(w.stores.pool, { realm: DOMAIN, user: 'alice', password: 'wonderland' });
    await provision(w.stores.pool, { realm: DOMAIN, user: 'bob', password: 'builder' });
  });
  t.teardown(async () => {
    await w.daemon.close();
    await w.peer.close();
    await w.stores.close();
  });
  return w;
}

/** The info-level log text: what must never name a device address or user. */
export const infoLogText = (w: RegisterWorld) => w.daemon.rawLogs.filter((l) => !l.includes('"level":"debug"')).join('\n');

/** The scraped metrics body and the REGISTER outcome counts in it. */
export async function registerMetrics(w: RegisterWorld): Promise<{ body: string; count(result: string): number }> {
  const body = await (await fetch(`${w.daemon.httpUrl}/metrics`)).text();
  return { body, count: (result) => Number(new RegExp(`sip_sidecar_register_requests_total\\{result="${result}"\\} (\\d+)`).exec(body)?.[1]) };
}

/** No table of the database holds the device's address. */
export async function mysqlHoldsNoDeviceAddress(t: Test, w: RegisterWorld): Promise<void> {
  const [tables] = await w.stores.pool.query<any[]>('SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()');
  for (const { t: table } of tables) {
    const [rows] = await w.stores.pool.query<any[]>(`SELECT * FROM \`${table}\``);
    t.notOk(JSON.stringify(rows).includes(DEVICE_IP), `${table} has no device IP`);
  }
}
