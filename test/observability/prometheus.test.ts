// The shipped operations files against the real tools: promtool checks and unit-tests the
// alert rules, and a real Prometheus scrapes the real daemon (driven by the drachtio peer)
// and runs every PromQL expression of the dashboard and of the alert rules.
import t from 'tap';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { eventually, freshStores, provision, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import { Device } from '../helpers/ua.js';
import { createMetrics } from '../../lib/metrics.js';
import {
  ALERTS, ALERTS_TEST, alertSignals, dashboardExprs, dashboardPanels, run, startPrometheus, substituteGrafanaVariables, type Prometheus,
} from './prom.js';

const DOMAIN = 'prom.example.com';

let stores: Stores;
let peer: DrachtioPeer;
let daemon: Daemon;
let prom: Prometheus | undefined;

t.before(async () => {
  stores = await freshStores('obsprom');
  peer = await DrachtioPeer.listen();
  daemon = await startDaemon(stores, peer);
  await provision(stores.pool, { realm: DOMAIN, user: 'erin', password: 'pw-erin' });
});
t.teardown(async () => {
  await prom?.close();
  await daemon.close();
  await peer.close();
  await stores.close();
});

t.test('promtool: the alert rules are valid and their unit tests pass', async (t) => {
  const check = await run('promtool', ['check', 'rules', ALERTS]);
  t.equal(check.code, 0, `promtool check rules: ${check.stdout}${check.stderr}`);
  t.match(check.stdout, /SUCCESS: \d+ rules found/);
  const unit = await run('promtool', ['test', 'rules', ALERTS_TEST]);
  t.equal(unit.code, 0, `promtool test rules: ${unit.stdout}${unit.stderr}`);
  t.match(unit.stdout, /SUCCESS/);
});

t.test('dashboard: a panel for every metric family', async (t) => {
  const exprs = (await dashboardExprs()).map((e) => e.expr);
  t.ok(exprs.length > 0, 'the dashboard has queries');
  const families = (await createMetrics('x').registry.getMetricsAsJSON()).map((m) => m.name)
    .filter((n) => !/^sip_sidecar_(process|nodejs)_/.test(n));
  t.ok(families.length >= 19, `the registry exports its families (${families.length})`);
  for (const f of families) {
    t.ok(exprs.some((e) => new RegExp(`\\b${f}(_bucket|_count|_sum)?\\b`).test(e)), `${f} is on the dashboard`);
  }
  t.ok(exprs.some((e) => e.includes('sip_sidecar_process_resident_memory_bytes')), 'process memory is on the dashboard');
  t.ok(exprs.some((e) => e.includes('sip_sidecar_process_cpu_seconds_total')), 'process CPU is on the dashboard');
  // Grafana keys panel state by id: two panels of one id overwrite each other's settings.
  const ids = (await dashboardPanels()).map((p) => p.id);
  t.same(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'every panel id is unique');
});

t.test('a real Prometheus scraping the daemon runs every dashboard and alert expression', async (t) => {
  prom = await startPrometheus({ target: daemon.httpUrl.replace('http://', ''), ruleFiles: [ALERTS] });
  const p = prom;
  const scalar = async (expr: string) => Number((await p.query(expr)).data?.result[0]?.value[1] ?? NaN);

  t.ok(await eventually(async () => (await scalar('up{job="sip-sidecar"}')) === 1, 15_000, 200), 'the daemon is scraped');

  // Traffic while Prometheus watches, so rates and histograms have something to show.
  for (const port of [5091, 5092, 5093]) {
    const res = await Device.via(peer, { user: 'erin', password: 'pw-erin', domain: DOMAIN, sourceAddress: '198.51.100.90', sourcePort: port }).register();
    t.equal(res.status, 200);
  }
  const okSeries = 'sip_sidecar_register_requests_total{job="sip-sidecar",result="ok"}';
  t.ok(await eventually(async () => (await scalar(okSeries)) === 3, 10_000, 200), 'Prometheus saw the 3 registrations');
  // Two more scrapes after that, so every rate() window holds the change.
  const seen = await scalar(`count_over_time(${okSeries}[1m])`);
  t.ok(await eventually(async () => (await scalar(`count_over_time(${okSeries}[1m])`)) >= seen + 2, 10_000, 200), 'scraped again');

  // Dashboard: each target expression, with Grafana's variables substituted
  // (substituteGrafanaVariables), parses and returns at least one series.
  const dash = await dashboardExprs();
  for (const { panel, expr } of dash) {
    const q = substituteGrafanaVariables(expr);
    const r = await p.query(q);
    t.equal(r.status, 'success', `dashboard "${panel}": ${q} ${r.error ?? ''}`);
    t.ok((r.data?.result.length ?? 0) > 0, `dashboard "${panel}" returns a series: ${q}`);
  }

  // Alerts: Prometheus loaded alerts.yml itself; wait until it has evaluated every rule.
  type Rule = { name: string; query: string; type: string; health: string; lastError?: string; state: string; lastEvaluation: string };
  const rules = async () => ((await p.api<{ data: { groups: { rules: Rule[] }[] } }>('/api/v1/rules')).data.groups).flatMap((g) => g.rules);
  const evaluated = await eventually(async () => {
    const all = await rules();
    return all.length > 0 && all.every((r) => !r.lastEvaluation.startsWith('0001-')) ? all : null;
  }, 10_000, 200);
  t.ok(evaluated, 'every rule evaluated');
  const all = evaluated ?? [];
  const declared = Number(/SUCCESS: (\d+) rules found/.exec((await run('promtool', ['check', 'rules', ALERTS])).stdout)?.[1]);
  t.equal(all.length, declared, 'Prometheus loaded every rule of alerts.yml');
  for (const rule of all) {
    t.equal(rule.type, 'alerting', `${rule.name} is an alert`);
    t.equal(rule.health, 'ok', `${rule.name} evaluates without error ${rule.lastError ?? ''}`);
    t.equal(rule.state, 'inactive', `${rule.name} is quiet on a healthy daemon`);
    const full = await p.query(rule.query);
    t.equal(full.status, 'success', `${rule.name}: ${rule.query} ${full.error ?? ''}`);
    t.same(full.data?.result, [], `${rule.name}: nothing matches on a healthy daemon`);
    // The healthy daemon returns nothing for the alert; each signal it compares
    // (alertSignals: the expression without its threshold) must return a series.
    const signals = alertSignals(rule.query);
    t.ok(signals.length > 0 && signals.every((s) => s !== rule.query), `${rule.name}: thresholds stripped from ${rule.query}`);
    for (const s of signals) {
      const r = await p.query(s);
      t.equal(r.status, 'success', `${rule.name} signal: ${s} ${r.error ?? ''}`);
      t.ok((r.data?.result.length ?? 0) > 0, `${rule.name} signal returns a series: ${s}`);
    }
  }
  await prom.close();
  prom = undefined;
});
