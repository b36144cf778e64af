// 3b. Redis memory per registration binding. 100,000 bindings (1,000 accounts × 100 phones, one Contact
// each) written with lib/register/bindings.ts createBindingStore — the very store the REGISTER handler
// calls, minus SIP and digest, so it takes seconds instead of a minute — each with its own fresh nonce
// and nonce-count 1, as a first authenticated REGISTER. Measured as INFO used_memory delta / count,
// with the nonce-count keys (they live NONCE_LIFETIME_SECONDS, 300 s) and after they are gone, and
// cross-checked with MEMORY USAGE of the keys themselves (not moved by other clients of the server).
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createBindingStore } from '../lib/register/bindings.js';
import { writeBindings } from './lib/fixtures.js';
import { REDIS_URL, clearPrefix, log, redisUsedMemory, round, sleep } from './lib/common.js';
import type { SectionResult } from './lib/report.js';

const PREFIX = 'bench:mem:';
const PER_ACCOUNT = 100;
const TTL_MS = 3600_000;

export async function benchBindingMemory(redis: Redis, o: { count: number }): Promise<SectionResult> {
  const conn = new Redis(REDIS_URL);
  try {
    await clearPrefix(redis, PREFIX);
    const store = createBindingStore(conn, PREFIX);
    await sleep(200);
    const before = await redisUsedMemory(redis);
    const accounts = Array.from({ length: Math.ceil(o.count / PER_ACCOUNT) }, () => randomUUID());
    const t0 = Date.now();
    await writeBindings(store, { accounts, count: o.count, perAccount: PER_ACCOUNT, ttlMs: TTL_MS, nonceCount: 1, realm: (a) => `a${a}.example.com` });
    const writeS = (Date.now() - t0) / 1000;
    const withNc = await redisUsedMemory(redis);
    const usage = await memoryUsage(redis);
    // The nonce-count keys expire with their nonce (300 s); what stays for the binding's hour is the rest.
    await unlinkMatching(redis, `${PREFIX}nc:*`);
    await sleep(200);
    const steady = await redisUsedMemory(redis);
    const perBinding = (steady - before) / o.count;
    const perBindingWithNc = (withNc - before) / o.count;
    log(`bindings: ${o.count} in ${round(writeS, 1)} s; ${round(perBinding, 0)} B/binding (${round(perBindingWithNc, 0)} B with nonce-count keys); MEMORY USAGE ${JSON.stringify(usage)}`);
    await clearPrefix(redis, PREFIX);
    return {
      rows: [
        {
          section: 'memory', metric: `Redis used_memory per binding, ${o.count.toLocaleString('en-US')} bindings (via createBindingStore)`,
          value: round(perBinding, 0), unit: 'B', goal: '< 300 B', met: perBinding < 300,
        },
        {
          section: 'memory', metric: '… while each device\'s nonce-count key lives (first 300 s)',
          value: round(perBindingWithNc, 0), unit: 'B', goal: '— (reported)', met: null,
        },
      ],
      details: {
        count: o.count, writeSeconds: round(writeS, 1), bindingsPerS: round(o.count / writeS, 0),
        usedMemoryBytes: { before, withNonceCounts: withNc, steady },
        perBindingBytes: round(perBinding, 1), perBindingWithNonceCountBytes: round(perBindingWithNc, 1),
        memoryUsagePerBinding: usage,
        method: 'lib/register/bindings.ts createBindingStore().store() (the REGISTER handler\'s store), 200 concurrent, direct to Redis',
      },
    };
  } finally {
    conn.disconnect();
  }
}

async function unlinkMatching(redis: Redis, match: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 5000);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** MEMORY USAGE of the keys written, by kind, divided by the number of bindings (the index by its size). */
async function memoryUsage(redis: Redis): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  let bindings = 0;
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
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(sums)) out[k] = round(v / bindings, 1);
  out.total = round(Object.values(sums).reduce((a, b) => a + b, 0) / bindings, 1);
  return out;
}
