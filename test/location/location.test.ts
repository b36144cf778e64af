// The location API through the real HTTP server, over bindings made by REGISTERs through test/peer:
// its own token, answers from the live binding keys only (most recent first), the batch form, every
// refusal, and a Redis outage.
import t from 'tap';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { startCutProxy } from '../helpers/tcp-proxy.js';
import { Device } from '../helpers/ua.js';
import { metric } from '../calls/helpers.js';
import { parseAor } from '../../lib/location/service.js';

const LOCATION_TOKEN = 'location-token-0123456789';
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const DOMAIN = 'loc.example.com';

let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let accountSid: string;

t.before(async () => {
  stores = await freshStores('location');
  peer = await DrachtioPeer.listen();
  daemon = await startDaemon(stores, peer, { env: { LOCATION_TOKEN, ADMIN_TOKEN } });
  accountSid = await provision(stores.pool, { realm: DOMAIN, user: 'alice', password: 'pw-alice' });
  await provision(stores.pool, { realm: DOMAIN, user: 'bob', password: 'pw-bob' });
  await provision(stores.pool, { realm: 'other.example.com', user: 'alice', password: 'pw-other' });
});
t.teardown(async () => {
  await daemon.close();
  await peer.close();
  await stores.close();
});

const call = (d: Daemon, path: string, init: RequestInit & { token?: string | null } = {}) => {
  const token = init.token === undefined ? LOCATION_TOKEN : init.token;
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return fetch(`${d.httpUrl}${path}`, { ...init, headers });
};
const locate = (aor: string, token?: string | null) => call(daemon, `/v1/locations/${encodeURIComponent(aor)}`, { token });
const lookup = (body: unknown, token?: string | null) =>
  call(daemon, '/v1/locations:lookup', { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), token });
const device = (o: Partial<Device['o']>) => Device.via(peer, { user: 'alice', password: 'pw-alice', domain: DOMAIN, ...o });

t.test('parseAor: user@domain or a sip: URI of it; anything else is refused', async (t) => {
  t.same(parseAor('alice@Loc.Example.com'), { user: 'alice', domain: 'loc.example.com' }, 'the domain compares lower-case');
  t.same(parseAor('sip:alice@loc.example.com'), { user: 'alice', domain: 'loc.example.com' });
  t.same(parseAor('sips:+15551230000@10.0.0.1'), { user: '+15551230000', domain: '10.0.0.1' });
  t.same(parseAor('a@b@loc.example.com'), null, 'an unescaped @ cannot be in the user');
  for (const bad of ['', 'alice', '@loc.example.com', 'alice@', 'alice@loc..example.com', 'al ice@x.com', 'alice@x.com:5060', 'a\n@x.com', `${'u'.repeat(65)}@x.com`]) {
    t.equal(parseAor(bad), null, JSON.stringify(bad));
  }
});

t.test('tokens: none, a wrong one and the admin token get 401; the location token opens nothing of the admin API', async (t) => {
  for (const token of [null, 'wrong-token-0123456789', ADMIN_TOKEN, '']) {
    const r = await locate(`alice@${DOMAIN}`, token);
    t.equal(r.status, 401, `token ${JSON.stringify(token)}`);
    t.equal(r.headers.get('www-authenticate'), 'Bearer');
    t.match(await r.json(), { error: { code: 'unauthorized' } });
    t.equal((await lookup({ aors: [`alice@${DOMAIN}`] }, token)).status, 401);
  }
  const admin = await fetch(`${daemon.httpUrl}/v1/accounts/${accountSid}/registrations`, { headers: { authorization: `Bearer ${LOCATION_TOKEN}` } });
  t.equal(admin.status, 401, 'LOCATION_TOKEN does not open the admin API');
  const ok = await fetch(`${daemon.httpUrl}/v1/accounts/${accountSid}/registrations`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  t.equal(ok.status, 200, 'while the admin token does');
});

t.test('a registered device is found with what a call needs; most recent first; gone once unregistered', async (t) => {
  t.equal((await locate(`alice@${DOMAIN}`)).status, 404, 'nothing registered yet');
  const older = device({ sourceAddress: '198.51.100.10', sourcePort: 5070 });
  t.equal((await older.register({ expires: 600, userAgent: 'Desk/1.0' })).status, 200);
  await new Promise((r) => setTimeout(r, 5)); // distinct registration instants
  const newer = device({ sourceAddress: '203.0.113.20', sourcePort: 40_000, transport: 'tcp' });
  t.equal((await newer.register({ expires: 1200, contactHost: '192.168.7.7', contactPort: 5080, userAgent: 'Soft/2.0' })).status, 200);

  const r = await locate(`alice@${DOMAIN}`);
  t.equal(r.status, 200);
  t.equal(r.headers.get('cache-control'), 'no-store', 'no cache may keep a location');
  const body = await r.json() as { aor: string; bindings: Record<string, unknown>[] };
  t.equal(body.aor, `alice@${DOMAIN}`);
  t.same(body.bindings.map((b) => b.contact), ['sip:alice@192.168.7.7:5080', 'sip:alice@198.51.100.10:5070'], 'most recent first');
  t.match(body.bindings[0], { source_address: '203.0.113.20', source_port: 40_000, transport: 'tcp', user_agent: 'Soft/2.0' });
  t.match(body.bindings[1], { source_address: '198.51.100.10', source_port: 5070, transport: 'udp', user_agent: 'Desk/1.0' });
  t.ok((body.bindings[0]!.expires_in as number) <= 1200 && (body.bindings[0]!.expires_in as number) > 1190, `expires_in ${body.bindings[0]!.expires_in}`);
  t.ok((body.bindings[1]!.expires_in as number) <= 600 && (body.bindings[1]!.expires_in as number) > 590);
  t.same(Object.keys(body.bindings[0]!).sort(), ['contact', 'expires_in', 'source_address', 'source_port', 'transport', 'user_agent']);

  // A refresh makes the older device the most recent one.
  t.equal((await older.once({ expires: 600 })).status, 200);
  const again = await (await locate(`sip:alice@${DOMAIN.toUpperCase()}`)).json() as { bindings: { contact: string }[] };
  t.equal(again.bindings[0]!.contact, 'sip:alice@198.51.100.10:5070', 'refreshed: now first');

  t.equal((await locate(`alice@other.example.com`)).status, 404, 'the same user of another account is someone else');
  t.equal((await locate(`bob@${DOMAIN}`)).status, 404);
  t.equal((await locate(`alice@nowhere.example.com`)).status, 404, 'a domain no account owns');

  await older.once({ expires: 0 });
  await newer.once({ expires: 0, contactHost: '192.168.7.7', contactPort: 5080 });
  const gone = await locate(`alice@${DOMAIN}`);
  t.equal(gone.status, 404);
  t.same(await gone.json(), { error: { code: 'not_registered', message: 'no live registration for this address of record' } });
});

t.test('answers never outlive the binding keys: a key that expired or was erased is gone from the next answer', async (t) => {
  const d = device({ sourceAddress: '198.51.100.11', sourcePort: 5071 });
  t.equal((await d.register()).status, 200);
  t.equal((await locate(`alice@${DOMAIN}`)).status, 200);
  const [key] = await stores.keys(`${stores.prefix}bind:{b*}:${accountSid}:alice:*`);
  await stores.redis.pexpire(key!, 1); // the binding's own TTL running out, while the AOR index still lists it
  await new Promise((r) => setTimeout(r, 20));
  t.equal((await locate(`alice@${DOMAIN}`)).status, 404, 'expired: not found, with no cache in between');

  t.equal((await d.once()).status, 200, 'registered again');
  t.equal((await locate(`alice@${DOMAIN}`)).status, 200);
  const erased = await fetch(`${daemon.httpUrl}/v1/accounts/${accountSid}/registrations`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  t.equal(erased.status, 200);
  t.equal((await locate(`alice@${DOMAIN}`)).status, 404, 'erased through the admin API: gone at once');
});

t.test('the batch form answers each AOR in the order asked, in one request', async (t) => {
  const a = device({ sourceAddress: '198.51.100.12', sourcePort: 5072 });
  const b = Device.via(peer, { user: 'bob', password: 'pw-bob', domain: DOMAIN, sourceAddress: '198.51.100.13', sourcePort: 5073 });
  t.equal((await a.register()).status, 200);
  t.equal((await b.register()).status, 200);
  const r = await lookup({ aors: [`bob@${DOMAIN}`, 'carol@loc.example.com', `sip:alice@${DOMAIN}`, 'alice@nowhere.example.com'] });
  t.equal(r.status, 200);
  t.equal(r.headers.get('cache-control'), 'no-store');
  const { results } = await r.json() as { results: { aor: string; bindings: { source_address: string }[] }[] };
  t.same(results.map((x) => [x.aor, x.bindings.map((y) => y.source_address)]), [
    [`bob@${DOMAIN}`, ['198.51.100.13']],
    ['carol@loc.example.com', []],
    [`alice@${DOMAIN}`, ['198.51.100.12']],
    ['alice@nowhere.example.com', []],
  ]);
  const hundred = Array.from({ length: 100 }, (_, i) => (i === 99 ? `alice@${DOMAIN}` : `u${i}@${DOMAIN}`));
  const full = await (await lookup({ aors: hundred })).json() as { results: { bindings: unknown[] }[] };
  t.equal(full.results.length, 100, '100 AORs is the limit, and allowed');
  t.equal(full.results[99]!.bindings.length, 1);
  await a.once({ expires: 0 });
  await b.once({ expires: 0 });
});

t.test('bad requests get 400 or 405 with a message', async (t) => {
  const cases: [Promise<Response>, number, RegExp][] = [
    [locate('alice'), 400, /user@domain/],
    [call(daemon, '/v1/locations/%E0%A4%A'), 400, /user@domain/],
    [lookup('not json'), 400, /must be JSON/],
    [lookup({ aors: [] }), 400, /at least one AOR/],
    [lookup({ aors: 'alice@x.com' }), 400, /at least one AOR/],
    [lookup({ aors: ['alice@x.com'], extra: 1 }), 400, /must be \{"aors"/],
    [lookup({ aors: ['alice@x.com', 42] }), 400, /aors\[1\] is not user@domain/],
    [lookup({ aors: Array.from({ length: 101 }, (_, i) => `u${i}@x.com`) }), 400, /at most 100 AORs per request \(got 101\)/],
    [lookup('x'.repeat(70_000)), 400, /may not exceed 65536 bytes/],
    [call(daemon, '/v1/locations:lookup'), 405, /GET is not allowed/],
    [call(daemon, `/v1/locations/alice%40${DOMAIN}`, { method: 'DELETE' }), 405, /DELETE is not allowed/],
  ];
  for (const [p, status, message] of cases) {
    const r = await p;
    t.equal(r.status, status, `${status} ${message}`);
    t.match(((await r.json()) as { error: { message: string } }).error.message, message);
  }
  t.equal((await call(daemon, '/v1/locations:lookup', { method: 'GET' })).headers.get('allow'), 'POST');
});

t.test('every answer is counted by status; log lines carry the route shape, never the AOR', async (t) => {
  const m = daemon.metrics.locationRequests;
  t.ok(await metric(m, { status: '200' }) >= 3);
  t.ok(await metric(m, { status: '401' }) >= 8);
  t.ok(await metric(m, { status: '404' }) >= 5);
  t.ok(await metric(m, { status: '400' }) >= 9);
  const refused = daemon.logs.filter((l) => l.msg === 'location request refused');
  t.ok(refused.length > 0);
  t.same([...new Set(refused.map((l) => l.route))].sort(),
    ['DELETE /v1/locations/:aor', 'GET /v1/locations/:aor', 'GET /v1/locations:lookup', 'POST /v1/locations:lookup']);
  t.notOk(daemon.rawLogs.some((l) => l.includes('alice') || l.includes(DOMAIN)), 'no user or domain in any log line');
  const body = await (await fetch(`${daemon.httpUrl}/metrics`)).text();
  t.match(body, /sip_sidecar_location_request_duration_seconds_count [1-9]/);
});

t.test('without LOCATION_TOKEN the routes are off (404), even when the admin API is on', async (t) => {
  const peer2 = await DrachtioPeer.listen();
  const off = await startDaemon(stores, peer2, { env: { ADMIN_TOKEN } });
  try {
    for (const token of [null, ADMIN_TOKEN, LOCATION_TOKEN]) {
      const r = await call(off, `/v1/locations/alice%40${DOMAIN}`, { token });
      t.equal(r.status, 404, `token ${token}`);
      t.match(await r.json(), { error: { code: 'not_found', message: /LOCATION_TOKEN/ } });
      t.equal((await call(off, '/v1/locations:lookup', { method: 'POST', body: '{}', token })).status, 404);
    }
  } finally {
    await off.close();
    await peer2.close();
  }
});

t.test('Redis unreachable: 503 with Retry-After, never a stale answer; recovers by itself', async (t) => {
  const proxy = await startCutProxy(6379);
  const peer2 = await DrachtioPeer.listen();
  const d2 = await startDaemon(stores, peer2, { env: { LOCATION_TOKEN, REDIS_URL: proxy.redisUrl(), REDIS_COMMAND_TIMEOUT_MS: '300' } });
  try {
    const phone = Device.via(peer2, { user: 'alice', password: 'pw-alice', domain: DOMAIN, sourceAddress: '198.51.100.14', sourcePort: 5074 });
    t.equal((await phone.register()).status, 200);
    t.equal((await call(d2, `/v1/locations/alice%40${DOMAIN}`)).status, 200);
    proxy.cut();
    const down = await call(d2, `/v1/locations/alice%40${DOMAIN}`);
    t.equal(down.status, 503);
    t.equal(down.headers.get('retry-after'), '5');
    t.match(await down.json(), { error: { code: 'unavailable', message: /redis/ } });
    t.equal((await call(d2, '/v1/locations:lookup', { method: 'POST', body: JSON.stringify({ aors: [`alice@${DOMAIN}`] }) })).status, 503);
    proxy.restore();
    const back = await eventually(async () => (await call(d2, `/v1/locations/alice%40${DOMAIN}`)).status === 200, 10_000, 200);
    t.ok(back, 'answers again once Redis is back');
    await phone.once({ expires: 0 });
  } finally {
    await d2.close();
    await peer2.close();
    await proxy.close();
  }
});
