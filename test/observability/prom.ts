// Helpers for the observability tests: the Prometheus text format, promtool, a real
// Prometheus server, and the PromQL shipped in ops/. Nothing here is installed by the
// tests: promtool and prometheus must be on PATH (Debian package `prometheus`; .ci/run
// installs it).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { freePort } from '../helpers/ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const ROOT = join(__dirname, '..', '..');
export const ALERTS = join(ROOT, 'ops', 'prometheus', 'alerts.yml');
export const ALERTS_TEST = join(ROOT, 'ops', 'prometheus', 'alerts.test.yml');
export const DASHBOARD = join(ROOT, 'ops', 'grafana', 'dashboard.json');

// ---------------------------------------------------------------- text format

export interface Sample { name: string; labels: Record<string, string>; value: number }
export interface Family { name: string; type: string; help: string }
export interface Scrape { families: Map<string, Family>; samples: Sample[] }

/** Parses the Prometheus text exposition format (what prom-client writes). */
export function parseExposition(text: string): Scrape {
  const families = new Map<string, Family>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const f = families.get(meta[2]!) ?? { name: meta[2]!, type: 'untyped', help: '' };
      if (meta[1] === 'TYPE') f.type = meta[3]!;
      else f.help = meta[3]!;
      families.set(f.name, f);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { families, samples };
}

/** The family a sample belongs to (histogram series carry _bucket/_sum/_count). */
export function familyOf(sampleName: string, families: Map<string, Family>): string {
  if (families.has(sampleName)) return sampleName;
  const base = sampleName.replace(/_(bucket|sum|count)$/, '');
  return families.has(base) ? base : sampleName;
}

/** The value of one series, or undefined when the scrape has no such series. */
export function valueOf(s: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels);
  const hit = s.samples.find((x) => x.name === name
    && Object.keys(x.labels).length === want.length && want.every(([k, v]) => x.labels[k] === v));
  return hit?.value;
}

export async function scrape(httpUrl: string): Promise<{ text: string; parsed: Scrape }> {
  const res = await fetch(`${httpUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  return { text, parsed: parseExposition(text) };
}

// ---------------------------------------------------------------- processes

export interface Run { code: number | null; stdout: string; stderr: string }

/** Runs a command to completion (killed after timeoutMs), optionally feeding stdin. */
export function run(cmd: string, args: string[], o: { stdin?: string; timeoutMs?: number; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 20_000);
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(o.stdin ?? '');
  });
}

// ---------------------------------------------------------------- a real Prometheus

export interface QueryResult { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } }

export interface Prometheus {
  readonly url: string;
  query(expr: string): Promise<QueryResult>;
  /** GET an API path, JSON-decoded. */
  api<T = any>(path: string): Promise<T>;
  close(): Promise<void>;
}

/**
 * Starts `prometheus` on 127.0.0.1 (a free port) with its own temporary storage,
 * scraping `target` every second and evaluating `ruleFiles` every second.
 */
export async function startPrometheus(o: { target: string; ruleFiles?: string[]; readyTimeoutMs?: number }): Promise<Prometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'sidecar-prom-'));
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    ...(o.ruleFiles ?? []).map((f) => `  - ${JSON.stringify(f)}`),
    'scrape_configs:',
    '  - job_name: sip-sidecar',
    '    static_configs:',
    `      - targets: [${JSON.stringify(o.target)}]`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);

  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    let exited = false;
    // Never outlive the test process, even when tap kills it on a timeout.
    const orphanGuard = () => { child.kill('SIGKILL'); };
    process.once('exit', orphanGuard);
    const exit = new Promise<void>((r) => child.on('exit', () => { exited = true; process.off('exit', orphanGuard); r(); }));
    const url = `http://127.0.0.1:${port}`;
    const until = Date.now() + (o.readyTimeoutMs ?? 15_000);
    while (!exited && Date.now() < until) {
      const ok = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status === 200, () => false);
      if (ok) {
        const api = async <T = any>(path: string): Promise<T> =>
          (await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) })).json() as Promise<T>;
        return {
          url,
          api,
          query: (expr) => api<QueryResult>(`/api/v1/query?query=${encodeURIComponent(expr)}`),
          async close() {
            if (!exited) {
              child.kill('SIGTERM');
              const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
              await exit;
              clearTimeout(killer);
            }
            await rm(dir, { recursive: true, force: true });
          },
        };
      }
      await sleep(100);
    }
    if (!exited) {
      child.kill('SIGKILL');
      await exit;
    }
    lastError = stderr.slice(-2000) || 'not ready in time';
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`prometheus did not start: ${lastError}`);
}

// ---------------------------------------------------------------- PromQL in ops/

/** Every target expression of every panel of the dashboard (rows' nested panels too). */
export async function dashboardExprs(): Promise<{ panel: string; expr: string }[]> {
  const dash = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const out: { panel: string; expr: string }[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr !== undefined) out.push({ panel: p.title, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dash.panels);
  return out;
}
interface Panel { title: string; targets?: { expr?: string }[]; panels?: Panel[] }

/**
 * Grafana variables, replaced by what makes the expression valid PromQL that selects
 * everything: `$instance` (an "All" regex), `$__rate_interval` and friends (a window that
 * holds several 1 s scrapes). Anything else starting with `$` is left, so an unknown
 * variable fails the query instead of being silently dropped.
 */
export function substituteGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$\{?__(rate_interval|interval|range)\}?/g, '1m')
    .replace(/\$\{?instance\}?/g, '.+');
}

/**
 * The signal an alert compares against its threshold: the expression split on its
 * top-level set operators (and/or/unless), each part stripped of a trailing top-level
 * comparison (`== 0`, `> 0.05`, `> 31 * 86400`, …). On a healthy system an alert's full
 * expression returns nothing, but each signal must still return a series, or the alert
 * watches a metric that does not exist (a typo, a renamed metric, a missing label).
 */
export function alertSignals(expr: string): string[] {
  return splitTopLevel(expr, /^(and|or|unless)\b/).map((part) => {
    const cmp = splitTopLevel(part, /^(==|!=|>=|<=|>|<)(?!~)/);
    return cmp.length > 1 ? cmp.slice(0, -1).join(' ').trim() : part.trim();
  });
}

/** Splits at operators matched by `op` that sit outside (), {}, [] and strings. */
function splitTopLevel(expr: string, op: RegExp): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') { quote = c; continue; }
    if ('({['.includes(c)) depth++;
    else if (')}]'.includes(c)) depth--;
    else if (depth === 0 && (i === 0 || /\s/.test(expr[i - 1]!))) {
      const m = op.exec(expr.slice(i));
      if (m && /[\s(]/.test(expr[i + m[0].length] ?? ' ')) {
        parts.push(expr.slice(start, i));
        i += m[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(expr.slice(start));
  return parts.map((p) => p.trim()).filter(Boolean);
}
