// The e2e section's figures: clean maxima as ratios against their same-run baselines, latency at each
// maximum, CPU per operation of the data handling (the daemon + Redis + MariaDB against Kamailio +
// MariaDB), and a table of CPU per process at each maximum.
import { ratioRow, type Row } from './report.js';
import type { RunResult, SearchResult } from './sipp-load.js';

const S = 'e2e';
const rate = (r: SearchResult | undefined) => r?.best?.opsPerS ?? 0;
const us = (r: RunResult | null | undefined, keys: string[]) =>
  r ? keys.reduce((a, k) => a + (Number.isFinite(r.cpuUsPerOp[k]) ? r.cpuUsPerOp[k]! : 0), 0) : NaN;
const OURS = ['daemon', 'redis', 'mariadb'];
const KAMAILIO = ['kamailio', 'mariadb'];

/** Rows for the searches that ran (all of them, unless --e2e-only picked some). */
export function e2eRows(res: Record<string, SearchResult>): Row[] {
  const all: Row[] = [];
  const rows = { push: (r: Row, ...keys: string[]) => { if (keys.every((k) => res[k])) all.push(r); } };
  const rateRow = (what: string, ours: string, base: string, baseName: string) => rows.push(ratioRow({
    section: S, metric: `${what}, highest clean rate`, value: rate(res[ours]), unit: '/s',
    baseline: { name: baseName, value: rate(res[base]) }, goal: '≥ 0.90×',
    met: rate(res[ours]) > 0 && rate(res[ours]) >= 0.9 * rate(res[base]),
  }), ours, base);
  rateRow('fresh registrations (401, then 200)', 'daemonFresh', 'appFresh', 'do-nothing srf app');
  rateRow('re-registrations (nonce reused, nc 1..5)', 'daemonRenew', 'appRenew', 'do-nothing srf app');
  rateRow('calls with CDRs (1 answered row each)', 'daemonCalls', 'noConsumerCalls', 'no CDR consumer');
  for (const [what, key] of [['fresh registrations', 'Fresh'], ['re-registrations', 'Renew']] as const) {
    for (const mode of [1, 0]) {
      rows.push({ section: S, metric: `Kamailio usrloc db_mode=${mode}: ${what}, highest clean rate`, value: rate(res[`kamailio${mode}${key}`]), unit: '/s', goal: '—', met: null }, `kamailio${mode}${key}`);
    }
  }
  rows.push({ section: S, metric: 'Kamailio stateful proxy + acc: calls, highest clean rate', value: rate(res.kamailioCalls), unit: '/s', goal: '—', met: null }, 'kamailioCalls');
  for (const [what, ours, base] of [['fresh', 'daemonFresh', 'appFresh'], ['re-registration', 'daemonRenew', 'appRenew'], ['call (INVITE to 200)', 'daemonCalls', 'noConsumerCalls']] as const) {
    const d = res[ours]?.best;
    const b = res[base]?.best;
    rows.push(ratioRow({
      section: S, metric: `p99 latency at the clean max, ${what} (avg ${d?.avgMs ?? '–'} ms; baseline avg ${b?.avgMs ?? '–'} ms)`,
      value: d?.p99Ms ?? NaN, unit: 'ms', baseline: { name: 'same baseline at its max', value: b?.p99Ms ?? NaN }, goal: '—', met: null,
    }), ours, base);
  }
  const cpuRow = (what: string, ours: string, theirs: string, name: string) => {
    const v = us(res[ours]?.best, OURS);
    const k = us(res[theirs]?.best, KAMAILIO);
    rows.push(ratioRow({
      section: S, metric: `CPU per ${what}, data handling (daemon + Redis + MariaDB)`, value: v, unit: 'µs',
      baseline: { name: `${name} (Kamailio + MariaDB)`, value: k }, goal: '≤ 0.50×', met: v <= 0.5 * k,
    }), ours, theirs);
  };
  cpuRow('fresh registration', 'daemonFresh', 'kamailio1Fresh', 'db_mode=1');
  cpuRow('fresh registration', 'daemonFresh', 'kamailio0Fresh', 'db_mode=0');
  cpuRow('re-registration', 'daemonRenew', 'kamailio1Renew', 'db_mode=1');
  cpuRow('re-registration', 'daemonRenew', 'kamailio0Renew', 'db_mode=0');
  cpuRow('call', 'daemonCalls', 'kamailioCalls', 'acc');
  return all;
}

const PROCS = ['drachtio', 'daemon', 'app', 'kamailio', 'redis', 'mariadb', 'sipp', 'others'];

/** Markdown: per target, the clean maximum, its latency, and the CPU of each process there (% of a core). */
export function processTable(res: Record<string, SearchResult>): string {
  const head = ['target', 'clean max (ops/s)', 'sipp calls/s', 'avg / p99 ms', ...PROCS.map((p) => `${p} %`), 'runs'];
  const body = Object.values(res).map((r) => {
    const b = r.best;
    return [
      r.target, b ? String(Math.round(b.opsPerS)) : 'none', b ? String(b.rate) : '', b ? `${b.avgMs} / ${b.p99Ms}` : '',
      ...PROCS.map((p) => (b && b.cpuPct[p] !== undefined ? String(b.cpuPct[p]) : '')), String(r.runs.length),
    ];
  });
  const line = (c: string[]) => `| ${c.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...body.map(line)].join('\n');
}
