// npm run bench [-- --quick] [-- --only register,cdr,e2e] [-- --soak-seconds 300] [-- --profile] [-- --no-cluster]
//
// Drives the built daemon (`node dist/app.js`, a child process) with the real Redis and MariaDB through
// the drachtio peer of test/peer, next to a baseline measured in the same run on the same generator,
// prints one table and writes it with every detail to bench/results/latest.json. The e2e section instead
// drives a real drachtio-server (and Kamailio) with sipp (bench/e2e.ts).
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { benchBindingMemory } from './bindings-memory.js';
import { benchCdr } from './cdr.js';
import { benchE2e, e2eMissing } from './e2e.js';
import { benchLocation } from './location.js';
import { REDIS_URL, ROOT, WORK_DIR, log, machine, round, setStorePids, storePids, waitForQuiet } from './lib/common.js';
import { renderTable, type Row, type SectionResult } from './lib/report.js';
import { benchRegister } from './register.js';
import { benchRetention, prepareRetention, type PreparedRetention } from './retention.js';
import { benchSoak } from './soak.js';

const SECTIONS = ['register', 'cdr', 'soak', 'bindings', 'location', 'retention', 'e2e'] as const;
type Section = (typeof SECTIONS)[number];

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'soak-seconds': { type: 'string' },
    /** soak rates when the register / cdr sections do not run first (default: 25 % of their maxima) */
    'soak-register-rate': { type: 'string' },
    'soak-call-rate': { type: 'string' },
    'retention-rows': { type: 'string' },
    'bindings': { type: 'string' },
    /** bindings: skip the Redis Cluster layout (the register and cdr sections always add their one cluster run) */
    'no-cluster': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    /** REGISTER closed loop: outstanding requests to try (best kept), comma-separated */
    'reg-concurrency': { type: 'string', default: '64' },
    /** e2e: seconds per sipp run, bisection steps after doubling */
    'e2e-seconds': { type: 'string' },
    'e2e-steps': { type: 'string' },
    /** e2e: only these searches, e.g. daemonCalls,noConsumerCalls (keys of details.e2e.results) */
    'e2e-only': { type: 'string' },
    out: { type: 'string' },
  },
});

async function main() {
  const started = Date.now();
  const loadAtStart = loadavg().map((x) => round(x, 2));
  const only = new Set((a.only ? a.only.split(',') : SECTIONS) as Section[]);
  for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s}; one of ${SECTIONS.join(', ')}`);
  // Refuse at once, before any section has run, rather than fail after many minutes.
  const missing = only.has('e2e') ? e2eMissing() : [];
  if (missing.length) {
    const others = SECTIONS.filter((x) => x !== 'e2e');
    process.stderr.write(`bench: the e2e section cannot run here:\n  - ${missing.join('\n  - ')}\n(the other sections run without it: --only ${others.join(',')})\n`);
    process.exit(2);
  }
  const soakSeconds = Number(a['soak-seconds'] ?? (a.quick ? 60 : 300));
  const cpuProfDir = a.profile ? join(WORK_DIR, 'profiles') : undefined;
  if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
  const redis = new Redis(REDIS_URL);
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  const seconds: Record<string, number> = {};
  const quiet: Record<string, { waitedS: number; othersPct: number }> = {};
  let quietWaitedMs = 0;
  // The soak loads the daemon at a fraction of the maxima the first two sections found.
  const maxima = { registerPerS: 0, callsPerS: 0 };
  const run = async (name: Section, f: () => Promise<SectionResult>) => {
    if (!only.has(name)) return;
    const t = Date.now();
    log(`— ${name} —`);
    // Ratios are taken within a section; a section starts only once other work on the box has calmed down.
    // (at most 30 s of waiting in all, so that a busy machine cannot push the run past its budget)
    quiet[name] = await waitForQuiet(Math.max(1000, 30_000 - quietWaitedMs));
    quietWaitedMs += quiet[name].waitedS * 1000;
    const r = await f();
    rows.push(...r.rows);
    details[name] = r.details;
    seconds[name] = round((Date.now() - t) / 1000, 1);
  };
  try {
    const machineInfo = await machine(redis);
    setStorePids(storePids(await redis.info('server')));
    await run('register', async () => {
      const r = await benchRegister(redis, { clients: 1000, concurrency: a['reg-concurrency']!.split(',').map(Number), warmupMs: 2000, durationMs: a.quick ? 5000 : 8000, cpuProfDir });
      maxima.registerPerS = (r.details.daemonMax as { rate: number }).rate;
      return r;
    });
    await run('cdr', async () => {
      const r = await benchCdr(redis, { durationMs: a.quick ? 5000 : 8000, cpuProfDir });
      maxima.callsPerS = r.details.daemonMaxCallsPerS as number;
      return r;
    });
    await run('soak', () => benchSoak(redis, {
      seconds: soakSeconds,
      registerRate: Number(a['soak-register-rate'] ?? Math.round(0.25 * (maxima.registerPerS || 3000))),
      callRate: Number(a['soak-call-rate'] ?? Math.round(0.25 * (maxima.callsPerS || 2000))),
      cpuProfDir,
    }));
    // The retention fill (MySQL only, slow) runs while the bindings section (Redis only, a memory
    // figure that CPU contention does not change) measures; the purges themselves run alone.
    let prepared: Promise<PreparedRetention> | null = null;
    const prepare = () => {
      prepared ??= prepareRetention({ rows: Number(a['retention-rows'] ?? 1_000_000) });
      prepared.catch(() => undefined); // awaited (and reported) by the retention section
      return prepared;
    };
    await run('bindings', () => {
      if (only.has('retention')) prepare();
      return benchBindingMemory(redis, { count: Number(a.bindings ?? 100_000), cluster: !a['no-cluster'] });
    });
    await run('location', () => benchLocation(redis, {
      bindings: Number(a.bindings ?? 100_000), concurrency: 32, warmupMs: 1000, durationMs: a.quick ? 3000 : 6000, cpuProfDir,
    }));
    await run('retention', () => benchRetention(prepare()));
    await run('e2e', () => benchE2e(redis, {
      users: 1000,
      durationS: Number(a['e2e-seconds'] ?? (a.quick ? 3 : 8)),
      steps: Number(a['e2e-steps'] ?? (a.quick ? 1 : 3)),
      start: { register: 400, call: 200 },
      only: a['e2e-only'] ? new Set(a['e2e-only'].split(',')) : undefined,
      cpuProfDir,
    }));

    const table = renderTable(rows);
    process.stdout.write(`\n${table}\n\n`);
    const e2eProcesses = (details.e2e as { processTable?: string } | undefined)?.processTable;
    if (e2eProcesses) process.stdout.write(`e2e: CPU per process at each clean maximum (% of one core)\n${e2eProcesses}\n\n`);
    // An e2e-only run has a file of its own, so that it does not replace the full run's latest.json.
    const out = a.out ?? join(ROOT, 'bench', 'results', only.size === 1 && only.has('e2e') ? 'e2e.json' : 'latest.json');
    const result = {
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      startedAt: new Date(started).toISOString(),
      totalSeconds: round((Date.now() - started) / 1000, 1),
      sectionSeconds: seconds,
      /** before each section: how long it waited for a quiet machine, and the CPU other processes then used */
      quietBeforeSection: quiet,
      machine: machineInfo,
      /** 1, 5 and 15 min load averages at the start and the end: how busy the shared box was */
      loadAverage: { start: loadAtStart, end: loadavg().map((x) => round(x, 2)) },
      options: { quick: a.quick, soakSeconds, sections: [...only] },
      table: rows,
      markdown: table,
      details,
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${out} (${result.totalSeconds} s)`);
  } finally {
    redis.disconnect();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
