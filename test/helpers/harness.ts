// Starts the real daemon (createSidecar over real Redis, MariaDB and TCP) against the
// drachtio peer. Each test file passes its own name: it gets its own database and its
// own Redis key prefix, so files run in parallel without touching each other.
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import Srf from 'drachtio-srf';
import { Cluster, Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { loadConfig, type Config, type Env } from '../../config/index.js';
import { createAccountQueries } from '../../lib/db/provision.js';
import { createPool, type Pool } from '../../lib/db/pool.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { createMetrics, type Metrics } from '../../lib/metrics.js';
import { createRedisConnections, scanKeys, type RedisClient } from '../../lib/redis.js';
import { createSidecar, type Sidecar } from '../../lib/sidecar.js';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { startCluster, startSentinelSet, type Cluster as TestCluster, type SentinelSet } from './redis-servers.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const MYSQL_ROOT = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

// Two checkouts running the suite at once on one machine set TEST_NAMESPACE apart, so that their
// files of the same name do not share a database or a key prefix.
const NAMESPACE = (process.env.TEST_NAMESPACE ?? '').replace(/\W/g, '_');
export const testDatabase = (name: string) => `sidecar_t_${NAMESPACE}${name.replace(/\W/g, '_')}`.slice(0, 64);

/**
 * The Redis topology the stores (and every daemon started on them) use: TEST_REDIS_TOPOLOGY=single (the
 * shared server, the default), sentinel (a private master, replica and three sentinels) or cluster (a
 * private 3+3 Redis Cluster). The private servers are started once per test file, at its first
 * freshStores, and stopped by its last close.
 */
export const TOPOLOGY = (process.env.TEST_REDIS_TOPOLOGY ?? 'single') as 'single' | 'sentinel' | 'cluster';
if (!['single', 'sentinel', 'cluster'].includes(TOPOLOGY)) throw new Error(`TEST_REDIS_TOPOLOGY must be single, sentinel or cluster (got ${TOPOLOGY})`);

/** `autoPipeline`: as the daemon opens its main connection on a cluster (lib/redis.ts). */
interface ClientOptions { autoPipeline?: boolean }
interface Topology { env: Env; client(o?: ClientOptions): RedisClient; stop(): Promise<void> }
let topology: Promise<Topology> | null = null;
let users = 0;

async function startTopology(): Promise<Topology> {
  if (TOPOLOGY === 'sentinel') {
    const set: SentinelSet = await startSentinelSet();
    return {
      env: { REDIS_SENTINELS: set.sentinelList },
      client: (o = {}) => new Redis({ sentinels: set.sentinels.map((x) => ({ host: '127.0.0.1', port: x.port })), name: set.masterName, enableAutoPipelining: o.autoPipeline ?? false }),
      stop: () => set.stop(),
    };
  }
  if (TOPOLOGY === 'cluster') {
    const cluster: TestCluster = await startCluster();
    return {
      env: { REDIS_CLUSTER_NODES: cluster.seedList },
      client: (o = {}) => new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { slotsRefreshInterval: 2000, enableAutoPipelining: o.autoPipeline ?? false }),
      stop: () => cluster.stop(),
    };
  }
  return { env: {}, client: (o = {}) => new Redis(REDIS_URL, { enableAutoPipelining: o.autoPipeline ?? false }), stop: async () => {} };
}

export interface Stores {
  name: string; database: string; prefix: string;
  /** A client of the test's topology, for assertions (a Cluster client on a cluster). */
  redis: RedisClient;
  /** REDIS_SENTINELS or REDIS_CLUSTER_NODES of the topology; empty for the single server. */
  redisEnv: Env;
  /** Keys matching `pattern`, from every master. */
  keys(pattern: string): Promise<string[]>;
  /** Another connection to the test's topology (a subscriber, say); the caller disconnects it. */
  client(o?: ClientOptions): RedisClient;
  pool: Pool; mysqlUrl: string; close(): Promise<void>;
}

/** A fresh database and key prefix for one test file, plus clients for assertions. */
export async function freshStores(name: string): Promise<Stores> {
  const database = testDatabase(name);
  const prefix = `t:${NAMESPACE}${name}:`;
  const admin = await mysql.createConnection({ uri: MYSQL_ROOT });
  await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await admin.end();
  topology ??= startTopology();
  users++;
  const top = await topology;
  const redis = top.client();
  // A cluster client learns the masters (nodes('master')) only once ready.
  if (redis.status !== 'ready') await new Promise((r) => redis.once('ready', r));
  await clearPrefix(redis, prefix);
  const mysqlUrl = `${MYSQL_ROOT}/${database}`;
  const pool = createPool({ url: mysqlUrl, database }, 4);
  return {
    name, database, prefix, redis, pool, mysqlUrl, redisEnv: top.env,
    keys: (pattern) => scanKeys(redis, pattern),
    client: (o) => top.client(o),
    async close() {
      await pool.end();
      redis.disconnect();
      if (--users === 0 && topology) {
        topology = null;
        await top.stop();
      }
    },
  };
}

export async function clearPrefix(redis: RedisClient, prefix: string): Promise<void> {
  // One key per DEL: on a cluster the keys live in many slots.
  for (const k of await scanKeys(redis, `${prefix}*`)) await redis.del(k);
}

export interface Daemon {
  sidecar: Sidecar;
  config: Config;
  metrics: Metrics;
  log: Logger;
  /** Every JSON log line the daemon wrote. */
  logs: Record<string, unknown>[];
  rawLogs: string[];
  httpUrl: string;
  close(): Promise<void>;
}

/**
 * The environment of a daemon over `stores`, connecting to the drachtio-servers (real or the peer)
 * whose admin ports are `drachtioPorts`: with several, to each (DRACHTIO_SERVERS).
 */
export function daemonEnv(stores: Stores, drachtioPorts: number[]): Env {
  return {
    ...(drachtioPorts.length > 1
      ? { DRACHTIO_SERVERS: drachtioPorts.map((p) => `127.0.0.1:${p}`).join(',') }
      : { DRACHTIO_HOST: '127.0.0.1', DRACHTIO_PORT: String(drachtioPorts[0] ?? 1) }),
    DRACHTIO_RETRY_MAX_DELAY_MS: '200',
    REDIS_URL,
    ...stores.redisEnv,
    REDIS_KEY_PREFIX: stores.prefix,
    MYSQL_URL: stores.mysqlUrl,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    SHUTDOWN_TIMEOUT_MS: '5000',
  };
}

/** With several peers, the daemon connects to each (DRACHTIO_SERVERS). */
export async function startDaemon(stores: Stores, peer: DrachtioPeer | DrachtioPeer[] | null, o: { env?: Env; now?: () => number; listen?: boolean; waitConnected?: boolean } = {}): Promise<Daemon> {
  const peers = peer === null ? [] : Array.isArray(peer) ? peer : [peer];
  const config = loadConfig({
    ...daemonEnv(stores, peers.map((p) => p.port)),
    LOG_LEVEL: 'info',
    NONCE_SECRET: 'test-nonce-secret',
    ...(o.listen ? { DRACHTIO_LISTEN_PORT: '0', DRACHTIO_LISTEN_HOST: '127.0.0.1' } : {}),
    // A test that names its own REDIS_URL (a proxy it cuts, a private server) gets that one server.
    ...(o.env?.REDIS_URL ? { REDIS_SENTINELS: undefined, REDIS_CLUSTER_NODES: undefined } : {}),
    ...o.env,
  });
  const rawLogs: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        rawLogs.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  const log = createLogger(config.log, sink);
  const metrics = createMetrics('test');
  const sidecar = createSidecar({
    config, log, metrics,
    redis: createRedisConnections(config.redis, log),
    pool: createPool(config.mysql),
    srfs: config.drachtio.servers.map(() => new Srf()),
    srfListener: o.listen ? new Srf() : undefined,
    now: o.now,
  });
  await sidecar.start();
  if (o.waitConnected !== false) for (const p of peers) await p.waitForRoutes(['register']);
  return {
    sidecar, config, metrics, log, logs, rawLogs,
    get httpUrl() { return `http://127.0.0.1:${sidecar.httpPort}`; },
    close: () => sidecar.close(),
  };
}

export async function provision(pool: Pool, o: { realm: string; user?: string; password?: string; numbers?: string[]; disableCdrs?: boolean; accountSid?: string }) {
  const q = createAccountQueries(pool);
  const { accountSid } = await q.ensureAccount({ realm: o.realm, accountSid: o.accountSid, disableCdrs: o.disableCdrs });
  if (o.user && o.password) await q.setClient({ accountSid, realm: o.realm, username: o.user, password: o.password });
  for (const n of o.numbers ?? []) await q.addNumber(accountSid, n);
  return accountSid;
}

/** Polls until `fn` returns a truthy value or the time runs out; returns the last value. A probe: never fails. */
export async function poll<T>(fn: () => Promise<T> | T, timeoutMs = 5000, everyMs = 25): Promise<T> {
  const until = Date.now() + timeoutMs;
  let v = await fn();
  while (!v && Date.now() < until) {
    await new Promise((r) => setTimeout(r, everyMs));
    v = await fn();
  }
  return v;
}

/**
 * Polls until `fn` returns a truthy value, and returns it. When the time runs out it fails, saying
 * what it waited for (`what`, else the condition's source) and the last value it saw.
 */
export async function eventually<T>(fn: () => Promise<T> | T, timeoutMs = 5000, everyMs = 25, what?: string): Promise<NonNullable<T>> {
  const v = await poll(fn, timeoutMs, everyMs);
  if (!v) {
    const condition = what ?? fn.toString().replace(/\s+/g, ' ').slice(0, 240);
    throw new Error(`timed out after ${timeoutMs} ms waiting for: ${condition} (last value: ${inspect(v)})`);
  }
  return v as NonNullable<T>;
}
