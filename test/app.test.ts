// The built daemon as operators run it: `node dist/app.js`, configured by environment.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import t from 'tap';
import { DrachtioPeer } from './peer/drachtio-peer.js';
import { buildRegister } from './peer/sip-ua.js';
import { eventually, freshStores, MYSQL_ROOT, REDIS_URL, testDatabase, type Stores } from './helpers/harness.js';
import { startCutProxy } from './helpers/tcp-proxy.js';
import { runApp as run } from './helpers/app-process.js';

let stores: Stores;
t.before(async () => { stores = await freshStores('app'); });
t.teardown(() => stores.close());

t.test('invalid configuration: one error naming every bad variable, exit 78', async (t) => {
  const p = run({ REGISTER_MAX_EXPIRES: '7200', DRACHTIO_PORT: 'ninety', LOG_LEVEL: 'loud', MYSQL_URL: 'postgres://x' });
  t.equal(await p.exited, 78);
  for (const name of ['REGISTER_MAX_EXPIRES', 'DRACHTIO_PORT', 'LOG_LEVEL', 'MYSQL_URL']) t.match(p.stderr, name);
  t.match(p.stderr, /one hour/, 'quotes the policy');
  t.equal(p.stderr.match(/invalid configuration/g)?.length, 1, 'one error, not one per variable');
});

t.test('starts against the local stores, serves REGISTER, exits 0 on SIGTERM', async (t) => {
  const peer = await DrachtioPeer.listen();
  t.teardown(() => peer.close());
  const p = run({
    DRACHTIO_PORT: String(peer.port), REDIS_URL, REDIS_KEY_PREFIX: stores.prefix, MYSQL_URL: stores.mysqlUrl,
    HTTP_PORT: '0', NONCE_SECRET: 'x', LOG_LEVEL: 'info',
  });
  t.teardown(() => { p.child.kill('SIGKILL'); });
  await peer.waitForRoutes(['register'], { timeoutMs: 15_000 });
  const port = await p.httpPort();
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  t.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
  const challenge = await peer.sendRequest(buildRegister({ user: 'nobody', domain: 'app.example.com' }));
  t.equal(challenge.status, 401, 'answers REGISTER');
  const [rows] = await stores.pool.query('SELECT version FROM schema_migrations ORDER BY version');
  t.ok((rows as unknown[]).length >= 1, 'schema created by the daemon itself');

  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0, 'clean exit');
  t.ok(p.lines.some((l) => l.msg === 'shutdown complete'));
  t.equal(await eventually(() => peer.clientCount === 0), true, 'drachtio connection closed');
});

t.test('MySQL unreachable at start: one clear line, keeps retrying, not ready, still exits 0', async (t) => {
  const proxy = await startCutProxy(3306);
  proxy.cut();
  const p = run({
    DRACHTIO_PORT: '1', REDIS_URL, REDIS_KEY_PREFIX: stores.prefix, MYSQL_URL: `mysql://root@127.0.0.1:${proxy.port}/${testDatabase('app2')}`,
    HTTP_PORT: '0', NONCE_SECRET: 'x',
  });
  t.teardown(() => { p.child.kill('SIGKILL'); });
  const port = await p.httpPort();
  const line = await eventually(() => p.lines.find((l) => l.msg?.includes('(MYSQL_URL)')));
  t.match(line?.msg, `MySQL unreachable at 127.0.0.1:${proxy.port} (MYSQL_URL); retrying`);
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'alive');
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  t.equal(ready.status, 503);
  t.match(await ready.json(), { down: ['drachtio', 'mysql'] });
  const attempts = proxy.refused;
  await eventually(() => proxy.refused >= attempts + 3, 10_000, 25, 'three more connection attempts to MySQL');
  t.equal(p.lines.filter((l) => l.msg?.includes('(MYSQL_URL)')).length, 1, 'said once, not once per retry');

  proxy.restore();
  t.ok(await eventually(() => p.lines.some((l) => l.msg === 'MySQL reachable again'), 10_000), 'recovers by itself');
  t.ok(p.lines.some((l) => l.msg === 'applied schema migration'));
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0);
  await proxy.close();
  const admin = await (await import('mysql2/promise')).createConnection({ uri: MYSQL_ROOT });
  await admin.query(`DROP DATABASE IF EXISTS ${testDatabase('app2')}`);
  await admin.end();
});

t.test('npm run provision: stores digests only, and re-running it never opts an account back in', async (t) => {
  const provisionCli = (...args: string[]) => new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'lib', 'cli', 'provision.js'), ...args],
      { env: { PATH: process.env.PATH, MYSQL_URL: stores.mysqlUrl }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('exit', (code) => resolve({ code, out }));
  });
  const optedOut = async () => {
    const [[r]] = await stores.pool.query<RowDataPacket[]>("SELECT disable_cdrs FROM accounts WHERE sip_realm = 'prov.example.com'");
    return r!.disable_cdrs;
  };
  const first = await provisionCli('--realm', 'prov.example.com', '--user', 'amy', '--password', 'S3cret-pass', '--disable-cdrs', '--number', '15550003333');
  t.equal(first.code, 0);
  t.match(JSON.parse(first.out), { account_created: true, realm: 'prov.example.com', username: 'amy', numbers: ['15550003333'] });
  t.equal(await optedOut(), 1);
  t.equal((await provisionCli('--realm', 'prov.example.com', '--user', 'ben', '--password', 'other-pass')).code, 0);
  t.equal(await optedOut(), 1, 'adding a user keeps the opt-out');
  t.equal((await provisionCli('--realm', 'prov.example.com', '--user', 'ben', '--password', 'other-pass', '--enable-cdrs')).code, 0);
  t.equal(await optedOut(), 0, 'only an explicit flag changes it');
  const [clients] = await stores.pool.query<RowDataPacket[]>('SELECT * FROM clients');
  t.equal(clients.length, 2);
  t.notOk(JSON.stringify(clients).includes('S3cret-pass'), 'no password stored');
  t.equal(clients.find((c) => c.username === 'amy')!.ha1_md5, createHash('md5').update('amy:prov.example.com:S3cret-pass').digest('hex'));
  t.equal((await provisionCli('--realm', 'prov.example.com')).code, 64, 'usage error without user and password');
});
