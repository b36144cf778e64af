// A/B of two builds of the daemon on one path, interleaved (A, B, A, B…) so that a noisy machine hurts
// both alike. The figure compared is the daemon's CPU per operation at a fixed open-loop rate (or the
// rate of a closed loop, --closed N), which load from other processes disturbs less than a maximum
// rate; latency is printed too. Keep the "before" build first (ignored by git):
//   cp -r dist bench/results/dist-before.tmp   # before the change; then change, npm run build
//   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs bench/ab.ts \
//     --a bench/results/dist-before.tmp --b dist --path register|cdr --rate 1000 [--closed 64] [--rounds 2] [--seconds 8] [--prof DIR]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createSpool } from '../lib/calls/spool.js';
import { createPool } from '../lib/db/pool.js';
import { CDR_VERBS } from '../test/calls/helpers.js';
import { DrachtioPeer } from '../test/peer/drachtio-peer.js';
import { cdrOpenLoop } from './lib/cdr-load.js';
import { REDIS_URL, ROOT, clearPrefix, dropDatabase, mysqlUrl, round, setStorePids, storePids } from './lib/common.js';
import { PhonePool, callMaker, phones, provisionClients, reRegister, type Target } from './lib/fixtures.js';
import { closedLoop, openLoop } from './lib/load.js';
import { startDaemon } from './lib/procs.js';

const { values: a } = parseArgs({
  options: {
    a: { type: 'string', default: 'bench/results/dist-before.tmp' },
    b: { type: 'string', default: 'dist' },
    path: { type: 'string', default: 'register' },
    rate: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '8' },
    /** write a CPU profile of each daemon into this directory */
    prof: { type: 'string' },
    /** closed loop with this many outstanding (register only) instead of the open-loop rate */
    closed: { type: 'string' },
  },
});

async function once(dist: string, label: string, redis: Redis): Promise<string> {
  const db = 'sidecar_bench_ab';
  const prefix = 'bench:ab:';
  await dropDatabase(db);
  await clearPrefix(redis, prefix);
  process.env.BENCH_DIST = join(ROOT, dist);
  const peer = await DrachtioPeer.listen({ requestTimeoutMs: 10_000 });
  const daemon = await startDaemon({ name: `daemon-ab-${label}`, peerPort: peer.port, database: db, mysqlUrl: mysqlUrl(db), prefix, cpuProfDir: a.prof });
  const pool = createPool({ url: mysqlUrl(db), database: db }, 2);
  try {
    await peer.waitForRoutes(['register', ...CDR_VERBS], { timeoutMs: 30_000 });
    const rate = Number(a.rate);
    const ms = Number(a.seconds) * 1000;
    if (a.path === 'register') {
      await provisionClients(pool, 1000);
      const target: Target = { peer };
      const devices = phones(target, 1000);
      for (let i = 0; i < devices.length; i += 50) await Promise.all(devices.slice(i, i + 50).map((d) => d.register()));
      const pp = new PhonePool(devices);
      const op = () => { const d = pp.take(); if (!d) return null; return reRegister(d).finally(() => pp.give(d)); };
      const r = a.closed
        ? await closedLoop({ concurrency: Number(a.closed), warmupMs: 2000, durationMs: ms, app: daemon, op })
        : await openLoop({ rate, warmupMs: 2000, durationMs: ms, app: daemon, op });
      return `${label}: ${r.rate}/s, daemon ${round((r.cpuPct.app! * 10_000) / r.rate, 0)} µs/op, redis ${round((r.cpuPct.redis! * 10_000) / r.rate, 0)} µs/op, p50 ${r.p50Ms} p99 ${r.p99Ms} ms, others ${r.cpuPct.others}% ${JSON.stringify(r.outcomes)}\n   slow: ${JSON.stringify(r.slow)}`;
    }
    await provisionClients(pool, 0);
    const calls = callMaker(`ab-${Date.now().toString(36)}`);
    const r = await cdrOpenLoop({ rate, durationMs: ms, pool, send: () => calls.send(peer), app: daemon, spoolLength: () => createSpool(redis, prefix, 1).depth() });
    return `${label}: ${r.callsPerS} calls/s, daemon ${round((r.cpuPct.app! * 10_000) / rate, 0)} µs/call, redis ${round((r.cpuPct.redis! * 10_000) / rate, 0)} µs/call, mariadb ${round((r.cpuPct.mariadb! * 10_000) / rate, 0)} µs/call, all landed ${r.allLanded} (drain ${r.drainSeconds} s), spool max ${r.spool?.max}, others ${r.cpuPct.others}%`;
  } finally {
    await daemon.stop();
    await pool.end();
    await peer.close();
  }
}

async function main() {
  const redis = new Redis(REDIS_URL);
  setStorePids(storePids(await redis.info('server')));
  try {
    for (let i = 0; i < Number(a.rounds); i++) {
      process.stdout.write(`${await once(a.a!, 'A', redis)}\n`);
      process.stdout.write(`${await once(a.b!, 'B', redis)}\n`);
    }
  } finally {
    await clearPrefix(redis, 'bench:ab:');
    await dropDatabase('sidecar_bench_ab');
    redis.disconnect();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
