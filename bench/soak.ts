// 3a. Memory and state over a long run: both paths at once (re-registrations and calls, each at a
// quarter of the maximum the first sections measured, so half the daemon's capacity in all), the
// daemon's RSS sampled every second. Growth = mean RSS of the last third of the run after warm-up
// against its first third. Also: Redis memory and the keys left under the prefix, by kind.
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { createSpool } from '../lib/calls/spool.js';
import { createPool } from '../lib/db/pool.js';
import { CDR_VERBS } from '../test/calls/helpers.js';
import { DrachtioPeer } from '../test/peer/drachtio-peer.js';
import { cdrOpenLoop } from './lib/cdr-load.js';
import { clearPrefix, dropDatabase, log, mysqlUrl, redisUsedMemory, round, sleep } from './lib/common.js';
import { PhonePool, callMaker, phones, provisionClients, reRegister, type Target } from './lib/fixtures.js';
import { openLoop } from './lib/load.js';
import { startDaemon } from './lib/procs.js';
import type { SectionResult } from './lib/report.js';

export interface SoakOptions {
  seconds: number;
  registerRate: number;
  callRate: number;
  clients?: number;
  cpuProfDir?: string;
}

const DB = 'sidecar_bench_soak';
const PREFIX = 'bench:soak:';

export async function benchSoak(redis: Redis, o: SoakOptions): Promise<SectionResult> {
  const clients = o.clients ?? 1000;
  await dropDatabase(DB);
  await clearPrefix(redis, PREFIX);
  const peer = await DrachtioPeer.listen({ requestTimeoutMs: 10_000 });
  const daemon = await startDaemon({ name: 'daemon-soak', peerPort: peer.port, database: DB, mysqlUrl: mysqlUrl(DB), prefix: PREFIX, cpuProfDir: o.cpuProfDir });
  const pool = createPool({ url: mysqlUrl(DB), database: DB }, 2);
  try {
    await peer.waitForRoutes(['register', ...CDR_VERBS], { timeoutMs: 30_000 });
    await provisionClients(pool, clients);
    const target: Target = { peer };
    const devices = phones(target, clients);
    for (let i = 0; i < devices.length; i += 50) await Promise.all(devices.slice(i, i + 50).map((d) => d.register()));
    const pp = new PhonePool(devices);
    const calls = callMaker(`soak-${Date.now().toString(36)}`);

    const warmupS = Math.max(15, Math.round(o.seconds * 0.2));
    const rss: { t: number; rss: number }[] = [];
    const redisMem: { t: number; bytes: number }[] = [];
    const heap: { t: number; bytes: number }[] = [];
    const t0 = performance.now();
    const at = () => round((performance.now() - t0) / 1000, 1);
    let sampling = true;
    const samplers = [
      (async () => { while (sampling) { rss.push({ t: at(), rss: daemon.rss() }); await sleep(1000); } })(),
      (async () => { while (sampling) { redisMem.push({ t: at(), bytes: await redisUsedMemory(redis) }); await sleep(5000); } })(),
      (async () => {
        while (sampling) {
          const text = await (await fetch(`${daemon.httpUrl}/metrics`)).text();
          const m = /^sip_sidecar_nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
          if (m) heap.push({ t: at(), bytes: Number(m[1]) });
          await sleep(10_000);
        }
      })(),
    ];
    log(`soak: ${o.seconds} s at ${o.registerRate} REGISTER/s + ${o.callRate} calls/s (warm-up ${warmupS} s)`);
    const [reg, cdr] = await Promise.all([
      openLoop({
        rate: o.registerRate, warmupMs: warmupS * 1000, durationMs: (o.seconds - warmupS) * 1000, app: daemon,
        op: () => {
          const d = pp.take();
          if (!d) return null;
          return reRegister(d).finally(() => pp.give(d));
        },
      }),
      cdrOpenLoop({ rate: o.callRate, durationMs: o.seconds * 1000, pool, send: () => calls.send(peer), app: daemon, spoolLength: () => createSpool(redis, PREFIX, 1).depth() }),
    ]);
    sampling = false;
    await Promise.all(samplers);

    // RSS is a saw-tooth (the heap grows until a major GC, ~1 min here), so single samples or short
    // windows measure the phase of the tooth, not growth: compare the means of the first and last
    // thirds of the measured part, each spanning several teeth, and fit a slope over all of it.
    const third = (o.seconds - warmupS) / 3;
    const early = rss.filter((s) => s.t >= warmupS && s.t < warmupS + third).map((s) => s.rss);
    const late = rss.filter((s) => s.t >= o.seconds - third && s.t <= o.seconds).map((s) => s.rss);
    const growth = mean(late) / mean(early) - 1;
    const slopeMiBPerMin = slope(rss.filter((s) => s.t >= warmupS).map((s) => [s.t / 60, s.rss / 2 ** 20]));
    const keys = await keysByKind(redis, PREFIX);
    log(`soak: RSS ${mb(mean(early))} → ${mb(mean(late))} MiB (${round(growth * 100, 1)} %, slope ${round(slopeMiBPerMin, 2)} MiB/min), REGISTER p99 ${reg.p99Ms} ms, ${cdr.sent} calls, rows ${cdr.rows}, keys ${JSON.stringify(keys)}`);
    return {
      rows: [
        {
          section: 'memory', metric: `daemon RSS growth, last vs first third after ${warmupS} s warm-up (${o.seconds} s at 50 % load)`,
          value: round(growth * 100, 1), unit: '%', goal: '< 10 %', met: growth < 0.1,
        },
      ],
      details: {
        seconds: o.seconds, warmupSeconds: warmupS, registerRate: o.registerRate, callRate: o.callRate,
        rssMiB: {
          firstThirdMean: mb(mean(early)), lastThirdMean: mb(mean(late)), firstThirdMax: mb(Math.max(...early)), lastThirdMax: mb(Math.max(...late)),
          max: mb(Math.max(...rss.map((s) => s.rss))), slopeMiBPerMin: round(slopeMiBPerMin, 3),
        },
        heapUsedAfterGcNote: 'the troughs of heapUsedMiB are the live heap after a major GC',
        rssCurveMiB: rss.filter((_, i) => i % 10 === 0).map((s) => [s.t, mb(s.rss)]),
        heapUsedMiB: heap.map((s) => [s.t, mb(s.bytes)]),
        redisUsedMemoryMiB: redisMem.map((s) => [s.t, mb(s.bytes)]),
        register: reg, cdr,
        keysAtEnd: keys,
        note: 'cdr:done tombstones live 600 s (DONE_TTL_SECONDS): Redis grows with the call rate for the first 10 minutes, then levels off',
      },
    };
  } finally {
    await daemon.stop();
    await pool.end();
    await peer.close();
    // Its 160,000-odd tombstones would otherwise expire during the next sections' Redis measurements.
    await clearPrefix(redis, PREFIX);
    await dropDatabase(DB);
  }
}

const mb = (b: number) => round(b / 2 ** 20, 1);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Least-squares slope of y over x. */
function slope(points: number[][]): number {
  const mx = mean(points.map((p) => p[0]!));
  const my = mean(points.map((p) => p[1]!));
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x! - mx) * (y! - my);
    den += (x! - mx) ** 2;
  }
  return num / den;
}

async function keysByKind(redis: Redis, prefix: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    for (const k of keys) {
      const kind = k.slice(prefix.length).replace(/^(cdr:[a-z]+|[a-z]+).*$/, '$1');
      out[kind] = (out[kind] ?? 0) + 1;
    }
    cursor = next;
  } while (cursor !== '0');
  return out;
}
