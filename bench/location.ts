// 6. Location lookups with 100,000 live bindings (1,000 accounts of 100 users, written with the REGISTER
// handler's own store): GET /v1/locations/{aor} of the built daemon (lookups/s, closed loop; p99 at a fixed
// rate, open loop), the batch form, and the store's lookup alone (bindings.locate: one Lua call), each against
// a raw Redis GET of the very binding key of the same AOR from the same generator in the same run — what a
// call app reaching into our keys would do instead.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createPool } from '../lib/db/pool.js';
import { scanKeys } from '../lib/redis.js';
import { createBindingStore } from '../lib/register/bindings.js';
import { DrachtioPeer } from '../test/peer/drachtio-peer.js';
import { REDIS_URL, clearPrefix, dropDatabase, log, mysqlUrl, round } from './lib/common.js';
import { writeBindings } from './lib/fixtures.js';
import { closedLoop, openLoop, type LoadResult } from './lib/load.js';
import { startDaemon } from './lib/procs.js';
import { ratioRow, type SectionResult } from './lib/report.js';

const DB = 'sidecar_bench_location';
const PREFIX = 'bench:location:';
const TOKEN = 'bench-location-token-0123456789';
const PER_ACCOUNT = 100;
const TTL_MS = 3600_000;

export interface LocationOptions { bindings: number; concurrency: number; warmupMs: number; durationMs: number; cpuProfDir?: string }

export async function benchLocation(redis: Redis, o: LocationOptions): Promise<SectionResult> {
  await dropDatabase(DB);
  await clearPrefix(redis, PREFIX);
  const peer = await DrachtioPeer.listen({ requestTimeoutMs: 10_000 });
  const daemon = await startDaemon({
    name: 'daemon-location', peerPort: peer.port, database: DB, mysqlUrl: mysqlUrl(DB), prefix: PREFIX,
    env: { LOCATION_TOKEN: TOKEN }, cpuProfDir: o.cpuProfDir,
  });
  const pool = createPool({ url: mysqlUrl(DB), database: DB }, 2);
  const conn = new Redis(REDIS_URL);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency * 2 });
  try {
    // The daemon connects to drachtio-server only once its schema is in place.
    await peer.waitForRoutes(['register'], { timeoutMs: 30_000 });
    const accounts = Array.from({ length: Math.ceil(o.bindings / PER_ACCOUNT) }, (_, i) => ({ sid: randomUUID(), realm: `a${i}.bench.example.com` }));
    for (let i = 0; i < accounts.length; i += 500) {
      await pool.query('INSERT INTO accounts (account_sid, name, sip_realm) VALUES ?',
        [accounts.slice(i, i + 500).map((a) => [a.sid, a.realm, a.realm])]);
    }
    const t0 = Date.now();
    await writeBindings(createBindingStore(conn, PREFIX), {
      accounts: accounts.map((a) => a.sid), count: o.bindings, perAccount: PER_ACCOUNT, ttlMs: TTL_MS, nonceCount: 0, realm: (i) => accounts[i]!.realm,
    });
    log(`location: ${o.bindings} bindings in ${round((Date.now() - t0) / 1000, 1)} s`);
    // The raw GET's key for each AOR: the binding key the store wrote (one binding per AOR here).
    const keyOf = new Map<string, string>();
    for (const key of await scanKeys(redis, `${PREFIX}bind:*`)) {
      const [acct, user] = key.slice(PREFIX.length + 'bind:'.length).split(':');
      keyOf.set(`${acct}:${user}`, key);
    }
    if (keyOf.size !== o.bindings) throw new Error(`expected ${o.bindings} binding keys, found ${keyOf.size}`);

    const pick = () => {
      const i = Math.floor(Math.random() * o.bindings);
      const a = accounts[Math.floor(i / PER_ACCOUNT)]!;
      return { acct: a.sid, realm: a.realm, user: `u${i % PER_ACCOUNT}` };
    };
    const url = new URL(daemon.httpUrl!);
    const request = (method: string, path: string, body?: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, method, path, agent, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    const httpOne = async () => {
      const p = pick();
      const r = await request('GET', `/v1/locations/${encodeURIComponent(`${p.user}@${p.realm}`)}`).catch(() => ({ status: 0, body: '' }));
      return r.status === 200 && r.body.includes('"source_address"') ? 'ok' : `status_${r.status}`;
    };
    const rawGet = async () => {
      const p = pick();
      return (await conn.get(keyOf.get(`${p.acct}:${p.user}`)!)) !== null ? 'ok' : 'missing';
    };
    const store = createBindingStore(conn, PREFIX);
    const storeLocate = async () => {
      const p = pick();
      return (await store.locate(p.acct, p.user, Date.now())).length === 1 ? 'ok' : 'missing';
    };
    const BATCH = 100;
    const httpBatch = async () => {
      const aors = Array.from({ length: BATCH }, () => { const p = pick(); return `${p.user}@${p.realm}`; });
      const r = await request('POST', '/v1/locations:lookup', JSON.stringify({ aors })).catch(() => ({ status: 0, body: '' }));
      return r.status === 200 && (r.body.match(/"source_address"/g)?.length ?? 0) === BATCH ? 'ok' : `status_${r.status}`;
    };

    const run = async (name: string, f: () => Promise<LoadResult>) => {
      const r = await f();
      log(`location: ${name}: ${r.rate}/s p50 ${r.p50Ms} ms p99 ${r.p99Ms} ms cpu ${JSON.stringify(r.cpuPct)} ${JSON.stringify(r.outcomes)}`);
      if (r.ok !== r.completed) throw new Error(`location: ${name}: ${r.completed - r.ok} of ${r.completed} failed: ${JSON.stringify(r.outcomes)}`);
      return r;
    };
    const closed = (name: string, op: () => Promise<string>, app?: typeof daemon, concurrency = o.concurrency) =>
      run(`${name} closed N=${concurrency}`, () => closedLoop({ concurrency, warmupMs: o.warmupMs, durationMs: o.durationMs, op, app }));
    const open = (name: string, op: () => Promise<string>, rate: number, app?: typeof daemon) =>
      run(`${name} open ${rate}/s`, () => openLoop({ rate, warmupMs: o.warmupMs, durationMs: o.durationMs, op, app }));

    // A router's steady state: the daemon knows which account owns each domain (one lookup each first).
    for (let i = 0; i < accounts.length; i += 50) {
      await Promise.all(accounts.slice(i, i + 50).map((a) => request('GET', `/v1/locations/${encodeURIComponent(`u0@${a.realm}`)}`)));
    }
    // Interleaved, so a change in the machine's load hits both sides alike.
    const getMax = await closed('raw GET', rawGet);
    const httpMax = await closed('GET /v1/locations', httpOne, daemon);
    const storeMax = await closed('bindings.locate', storeLocate);
    const getMax2 = await closed('raw GET (again)', rawGet);
    const batchMax = await closed(`POST /v1/locations:lookup (${BATCH} AORs)`, httpBatch, daemon, Math.max(1, Math.round(o.concurrency / 8)));
    const rate = Math.max(100, Math.round(httpMax.rate / 2));
    const httpHalf = await open('GET /v1/locations', httpOne, rate, daemon);
    const getHalf = await open('raw GET', rawGet, rate);
    const getBest = getMax.rate >= getMax2.rate ? getMax : getMax2;

    const base = (r: LoadResult, what = 'raw Redis GET of the same key') => ({ name: what, value: r.rate });
    return {
      rows: [
        ratioRow({
          section: 'location', metric: `lookups/s, max (closed loop, N=${o.concurrency}): GET /v1/locations/{aor}, ${o.bindings.toLocaleString('en-US')} live bindings`,
          value: httpMax.rate, unit: '/s', baseline: base(getBest), goal: '— (reported)', met: null,
        }),
        ratioRow({
          section: 'location', metric: `p99 latency at ${rate.toLocaleString('en-US')}/s (half the daemon's max, open loop)`,
          value: httpHalf.p99Ms, unit: 'ms', baseline: { name: 'raw Redis GET, same rate', value: getHalf.p99Ms }, goal: '— (reported)', met: null,
        }),
        ratioRow({
          section: 'location', metric: `p50 latency at ${rate.toLocaleString('en-US')}/s`,
          value: httpHalf.p50Ms, unit: 'ms', baseline: { name: 'raw Redis GET, same rate', value: getHalf.p50Ms }, goal: '— (reported)', met: null,
        }),
        ratioRow({
          section: 'location', metric: `AORs/s, max: POST /v1/locations:lookup, ${BATCH} AORs a request (closed loop, N=${batchMax.concurrency})`,
          value: round(batchMax.rate * BATCH, 0), unit: '/s', baseline: base(getBest), goal: '— (reported)', met: null,
        }),
        ratioRow({
          section: 'location', metric: `store lookup alone (bindings.locate: one Lua call), lookups/s, N=${o.concurrency}`,
          value: storeMax.rate, unit: '/s', baseline: base(getBest), goal: '— (reported)', met: null,
        }),
      ],
      details: {
        bindings: o.bindings, accounts: accounts.length, concurrency: o.concurrency,
        rawGet: [getMax, getMax2], http: httpMax, store: storeMax, batch: batchMax, httpAtHalf: httpHalf, rawGetAtHalf: getHalf,
        method: 'node dist/app.js with LOCATION_TOKEN; bindings written by createBindingStore().store(); AORs drawn uniformly at random; '
          + 'HTTP over keep-alive node:http; raw GET and bindings.locate on one ioredis connection of the generator',
      },
    };
  } finally {
    agent.destroy();
    conn.disconnect();
    await pool.end();
    await daemon.stop();
    await peer.close();
    await clearPrefix(redis, PREFIX);
    await dropDatabase(DB);
  }
}
