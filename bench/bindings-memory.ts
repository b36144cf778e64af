// 3b. Redis memory per registration binding. 100,000 bindings (1,000 accounts × 100 phones, one Contact
// each) written with lib/register/bindings.ts createBindingStore — the very store the REGISTER handler
// calls, minus SIP and digest, so it takes seconds instead of a minute — each with its own fresh nonce
// and nonce-count 1, as a first authenticated REGISTER. Measured as INFO used_memory delta / count,
// with the nonce-count keys (they live NONCE_LIFETIME_SECONDS, 300 s) and after they are gone, and
// cross-checked with MEMORY USAGE of the keys themselves (not moved by other clients of the server).
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import type { RedisClient } from '../lib/redis.js';
import { withCluster } from './lib/cluster.js';
import { createBindingStore } from '../lib/register/bindings.js';
import { writeBindings } from './lib/fixtures.js';
import { REDIS_URL, clearPrefix, log, redisUsedMemory, round, sleep, unlinkMatching } from './lib/common.js';
import type { SectionResult } from './lib/report.js';

const PREFIX = 'bench:mem:';
const PER_ACCOUNT = 100;
const TTL_MS = 3600_000;

/** Where the bindings go: the client the store writes with, the servers holding them, their replicas. */
interface Layout { client: RedisClient; masters: Redis[]; replicas: Redis[] }

const clearAll = async (nodes: Redis[]) => { for (const n of nodes) await clearPrefix(n, PREFIX); };
const sumUsed = async (nodes: Redis[]) => (await Promise.all(nodes.map(redisUsedMemory))).reduce((a, b) => a + b, 0);

/** Until every master's replicas have acknowledged all it has written (so their used_memory holds the keys). */
async function replicasCaughtUp(l: Layout): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    const behind = await Promise.all(l.masters.map(async (m) => {
      const info = await m.info('replication');
      const own = Number(/^master_repl_offset:(\d+)/m.exec(info)?.[1] ?? NaN);
      const theirs = [...info.matchAll(/^slave\d+:.*offset=(\d+)/gm)].map((x) => Number(x[1]));
      return theirs.length === 0 || theirs.some((o) => o < own);
    }));
    if (!behind.some(Boolean)) return;
    if (Date.now() > until) throw new Error('timed out after 30 s waiting for the replicas to catch up');
    await sleep(100);
  }
}

async function measure(l: Layout, count: number) {
  await clearAll(l.masters);
  const store = createBindingStore(l.client, PREFIX);
  await sleep(200);
  const before = await sumUsed(l.masters);
  const beforeReplicas = await sumUsed(l.replicas);
  const accounts = Array.from({ length: Math.ceil(count / PER_ACCOUNT) }, () => randomUUID());
  const t0 = Date.now();
  await writeBindings(store, { accounts, count, perAccount: PER_ACCOUNT, ttlMs: TTL_MS, nonceCount: 1, realm: (a) => `a${a}.example.com` });
  const writeS = (Date.now() - t0) / 1000;
  const withNc = await sumUsed(l.masters);
  const usage = await memoryUsage(l.masters);
  // The nonce-count keys expire with their nonce (300 s); what stays for the binding's hour is the rest.
  for (const m of l.masters) await unlinkMatching(m, `${PREFIX}nc:*`);
  await sleep(200);
  const steady = await sumUsed(l.masters);
  let replicasSteady = NaN;
  if (l.replicas.length) {
    await replicasCaughtUp(l);
    await sleep(200);
    replicasSteady = await sumUsed(l.replicas);
  }
  await clearAll(l.masters);
  return {
    count, writeSeconds: round(writeS, 1), bindingsPerS: round(count / writeS, 0),
    usedMemoryBytes: { before, withNonceCounts: withNc, steady, ...(l.replicas.length ? { replicasBefore: beforeReplicas, replicasSteady } : {}) },
    perBindingBytes: round((steady - before) / count, 1), perBindingWithNonceCountBytes: round((withNc - before) / count, 1),
    ...(l.replicas.length ? { perBindingWithReplicasBytes: round((steady - before + replicasSteady - beforeReplicas) / count, 1) } : {}),
    memoryUsagePerBinding: usage,
  };
}

export async function benchBindingMemory(redis: Redis, o: { count: number; cluster?: boolean }): Promise<SectionResult> {
  const conn = new Redis(REDIS_URL);
  let single;
  try {
    single = await measure({ client: conn, masters: [redis], replicas: [] }, o.count);
  } finally {
    conn.disconnect();
  }
  log(`bindings: one server: ${o.count} in ${single.writeSeconds} s; ${single.perBindingBytes} B/binding (${single.perBindingWithNonceCountBytes} B with nonce-count keys); MEMORY USAGE ${JSON.stringify(single.memoryUsagePerBinding)}`);
  const onCluster = o.cluster === false ? null : await withCluster(async (c) => {
    const nodes = c.nodes.map((n) => new Redis(n.port, '127.0.0.1'));
    const client = new Cluster(c.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    try {
      await new Promise((r) => client.once('ready', r));
      const roles = await Promise.all(nodes.map(async (n) => /^role:(\w+)/m.exec(await n.info('replication'))?.[1]));
      return await measure({ client, masters: nodes.filter((_, i) => roles[i] === 'master'), replicas: nodes.filter((_, i) => roles[i] === 'slave') }, o.count);
    } finally {
      client.disconnect();
      for (const n of nodes) n.disconnect();
    }
  });
  if (onCluster) log(`bindings: cluster: ${onCluster.perBindingBytes} B/binding over the masters (${onCluster.perBindingWithReplicasBytes} B with the replicas); MEMORY USAGE ${JSON.stringify(onCluster.memoryUsagePerBinding)}`);
  const n = o.count.toLocaleString('en-US');
  const kinds = (u: Record<string, number>) => Object.entries(u).filter(([k]) => k !== 'total').map(([k, v]) => `${k} ${Math.round(v)}`).join(', ');
  return {
    rows: [
      {
        section: 'memory', metric: `Redis used_memory per binding, ${n} bindings (via createBindingStore), one server`,
        value: round(single.perBindingBytes, 0), unit: 'B', goal: '< 300 B', met: single.perBindingBytes < 300,
      },
      {
        section: 'memory', metric: '… while each device\'s nonce-count key lives (first 300 s)',
        value: round(single.perBindingWithNonceCountBytes, 0), unit: 'B', goal: '— (reported)', met: null,
      },
      {
        section: 'memory', metric: `… MEMORY USAGE of its keys, one server (${kinds(single.memoryUsagePerBinding)})`,
        value: round(single.memoryUsagePerBinding.total ?? NaN, 0), unit: 'B', goal: '— (reported)', met: null,
      },
      ...(onCluster ? [
        {
          section: 'memory', metric: `Redis used_memory per binding, ${n} bindings, Redis Cluster: sum over the 3 masters`,
          value: round(onCluster.perBindingBytes, 0), unit: 'B', goal: '— (sizing)', met: null,
        },
        {
          section: 'memory', metric: '… with the 3 replicas counted too',
          value: round(onCluster.perBindingWithReplicasBytes ?? NaN, 0), unit: 'B', goal: '— (sizing)', met: null,
        },
        {
          section: 'memory', metric: `… MEMORY USAGE of its keys on the masters (${kinds(onCluster.memoryUsagePerBinding)})`,
          value: round(onCluster.memoryUsagePerBinding.total ?? NaN, 0), unit: 'B', goal: '— (reported)', met: null,
        },
      ] : []),
    ],
    details: {
      single, cluster: onCluster,
      method: 'lib/register/bindings.ts createBindingStore().store() (the REGISTER handler\'s store), 200 concurrent, direct to Redis; on the cluster through an ioredis Cluster client, used_memory summed over the masters (and the replicas once caught up)',
    },
  };
}

/** MEMORY USAGE of the keys written, by kind, divided by the number of bindings (the index by its size). */
async function memoryUsage(masters: Redis[]): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  let bindings = 0;
  for (const redis of masters) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 5000);
      const p = redis.pipeline();
      for (const k of keys) p.memory('USAGE', k, 'SAMPLES', '0');
      const res = (await p.exec()) ?? [];
      keys.forEach((k, i) => {
        const kind = k.slice(PREFIX.length).replace(/:.*$/, '');
        if (kind === 'bind') bindings++;
        sums[kind] = (sums[kind] ?? 0) + Number(res[i]?.[1] ?? 0);
      });
      cursor = next;
    } while (cursor !== '0');
  }
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(sums)) out[k] = round(v / bindings, 1);
  out.total = round(Object.values(sums).reduce((a, b) => a + b, 0) / bindings, 1);
  return out;
}
