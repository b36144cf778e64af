// HTTPS for the admin API, /metrics and health, against a real TLS client and certificates openssl
// makes: only TLS is spoken, a reload (SIGHUP) serves a new pair to new connections on the same
// listener while open ones go on, a pair that does not load leaves the old one in place, METRICS_TOKEN
// guards /metrics, and a plaintext admin API reachable beyond loopback is warned about at start.
import { copyFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError } from '../../lib/errors.js';
import { runApp } from '../helpers/app-process.js';
import { makeCert, tempDir, type Cert } from '../helpers/certs.js';
import { eventually, freshStores, REDIS_URL, startDaemon, type Stores } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { metric } from '../calls/helpers.js';

const TOKEN = 'tls-admin-token-0123456789';
const METRICS = 'tls-metrics-token-01234567';

let stores: Stores;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let one: Cert;
let two: Cert;
let live: { certFile: string; keyFile: string };
t.before(async () => {
  stores = await freshStores('http_tls');
  tmp = await tempDir('tls');
  [one, two] = [await makeCert(tmp.dir, 'one', 'first'), await makeCert(tmp.dir, 'two', 'second')];
  live = { certFile: join(tmp.dir, 'live.crt'), keyFile: join(tmp.dir, 'live.key') };
});
t.teardown(async () => {
  await stores.close();
  await tmp.remove();
});

const install = async (c: Cert) => {
  await copyFile(c.certFile, live.certFile);
  await copyFile(c.keyFile, live.keyFile);
};
const tlsEnv = () => ({ HTTPS_CERT_FILE: live.certFile, HTTPS_KEY_FILE: live.keyFile, ADMIN_TOKEN: TOKEN, METRICS_TOKEN: METRICS });

t.test('HTTPS only: health, admin API and metrics over TLS; METRICS_TOKEN guards /metrics', async (t) => {
  await install(one);
  const d = await startDaemon(stores, null, { waitConnected: false, env: tlsEnv() });
  t.teardown(() => d.close());
  const url = `https://127.0.0.1:${d.sidecar.httpPort}`;
  const both = [one.pem, two.pem];
  const health = await request(`${url}/healthz`, { ca: both });
  t.equal(health.status, 200);
  t.equal(health.fingerprint, one.fingerprint, 'the configured certificate');
  await t.rejects(request(`${url}/healthz`), /self[- ]signed|unable to verify/i, 'a client that does not trust it refuses it');
  await t.rejects(request(`http://127.0.0.1:${d.sidecar.httpPort}/healthz`), 'no plaintext HTTP on the port');

  t.equal((await request(`${url}/v1/accounts/${'0'.repeat(8)}-0000-0000-0000-000000000000/cdrs`, { ca: both, token: TOKEN })).status, 404, 'the admin API answers over TLS');
  t.equal((await request(`${url}/metrics`, { ca: both })).status, 401, '/metrics without its token');
  t.equal((await request(`${url}/metrics`, { ca: both, token: TOKEN })).status, 401, 'an admin token does not open /metrics');
  const m = await request(`${url}/metrics`, { ca: both, token: METRICS });
  t.equal(m.status, 200);
  t.match(m.text, /sip_sidecar_tls_reloads_total\{result="ok"\} 0/);
  t.equal((await request(`${url}/readyz`, { ca: both })).status, 503, 'readiness needs no token (drachtio is not connected here)');
});

t.test('reload: new connections get the new pair on the same listener; open ones go on; a bad pair changes nothing', async (t) => {
  await install(one);
  const d = await startDaemon(stores, null, { waitConnected: false, env: tlsEnv() });
  t.teardown(() => d.close());
  const port = d.sidecar.httpPort;
  const url = `https://127.0.0.1:${port}/healthz`;
  const both = [one.pem, two.pem];
  const kept = new https.Agent({ keepAlive: true, maxSockets: 1, ca: both });
  t.teardown(() => kept.destroy());
  t.equal((await request(url, { agent: kept })).fingerprint, one.fingerprint);

  await install(two);
  t.equal(await d.sidecar.reloadTls(), true);
  t.equal(d.sidecar.httpPort, port, 'the same listener');
  t.equal((await request(url, { ca: both })).fingerprint, two.fingerprint, 'a new connection gets the new certificate');
  const open = await request(url, { agent: kept });
  t.same([open.status, open.fingerprint], [200, one.fingerprint], 'the connection opened before the reload still serves');
  t.equal(await metric(d.metrics.tlsReloads, { result: 'ok' }), 1);

  await writeFile(live.keyFile, 'not a key');
  t.equal(await d.sidecar.reloadTls(), false, 'a key that does not load');
  await copyFile(one.keyFile, live.keyFile); // a key that does not match the certificate now in place
  t.equal(await d.sidecar.reloadTls(), false, 'a key that does not match');
  t.equal(await metric(d.metrics.tlsReloads, { result: 'failed' }), 2);
  t.equal((await request(url, { ca: both })).fingerprint, two.fingerprint, 'the last good pair stays in use');
  t.ok(d.logs.some((l) => l.msg === 'HTTPS certificate or key did not load; the previous pair stays in use'));
  t.notOk(d.rawLogs.join('\n').includes('BEGIN'), 'no PEM content in the log');
});

t.test('files that do not load at start: a configuration error naming the variables', async (t) => {
  await writeFile(live.certFile, 'garbage');
  const err = await startDaemon(stores, null, { waitConnected: false, env: tlsEnv() }).then(() => null, (e: unknown) => e);
  t.ok(err instanceof ConfigError, 'ConfigError');
  t.match((err as Error).message, /HTTPS_CERT_FILE \/ HTTPS_KEY_FILE do not load/);
});

t.test('a plaintext admin API beyond loopback is warned about at start; on loopback or over TLS it is not', async (t) => {
  const warning = /reachable beyond this machine over plain HTTP/;
  const start = async (env: Record<string, string>) => {
    const d = await startDaemon(stores, null, { waitConnected: false, env: { ADMIN_TOKEN: TOKEN, ...env } });
    await d.close();
    return d.logs.filter((l) => l.level === 'warn' && warning.test(String(l.msg)));
  };
  // 0.0.0.0 listens on every interface; nothing here connects to anything but loopback.
  t.equal((await start({ HTTP_HOST: '0.0.0.0' })).length, 1, 'plain HTTP on every interface');
  t.equal((await start({ HTTP_HOST: '127.0.0.1' })).length, 0, 'loopback');
  await install(one);
  t.equal((await start({ HTTP_HOST: '0.0.0.0', HTTPS_CERT_FILE: live.certFile, HTTPS_KEY_FILE: live.keyFile })).length, 0, 'over TLS');
});

t.test('the built daemon reloads its certificate on SIGHUP without dropping the listener', async (t) => {
  await install(one);
  const p = runApp({
    DRACHTIO_PORT: '1', REDIS_URL, REDIS_KEY_PREFIX: stores.prefix, MYSQL_URL: stores.mysqlUrl, HTTP_PORT: '0', NONCE_SECRET: 'x',
    HTTPS_CERT_FILE: live.certFile, HTTPS_KEY_FILE: live.keyFile, ADMIN_TOKEN: TOKEN,
  });
  t.teardown(() => { p.child.kill('SIGKILL'); });
  const port = await p.httpPort();
  t.ok(port, 'listening');
  const url = `https://127.0.0.1:${port}/healthz`;
  const both = [one.pem, two.pem];
  t.equal((await request(url, { ca: both })).fingerprint, one.fingerprint);
  await install(two);
  p.child.kill('SIGHUP');
  t.ok(await eventually(() => p.lines.some((l) => l.msg === 'HTTPS certificate and key reloaded'), 10_000), 'reloaded');
  const after = await request(url, { ca: both });
  t.same([after.status, after.fingerprint], [200, two.fingerprint], 'same port, new certificate');
  t.equal(p.child.exitCode, null, 'still running');
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0);
});
