// The README's "## Metrics" table is the operators' reference: it must list exactly the
// families the registry exports, with their type and labels. A metric cannot be added,
// renamed or relabelled without the table following.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import client from 'prom-client';
import t from 'tap';
import { createMetrics } from '../../lib/metrics.js';

const README = join(__dirname, '..', '..', 'README.md');

interface Row { name: string; type: string; labels: string[]; meaning: string }

async function metricsTable(): Promise<Row[]> {
  const text = await readFile(README, 'utf8');
  const section = /\n## Metrics\n([\s\S]*?)(?=\n## )/.exec(text)?.[1];
  if (!section) throw new Error('README.md has no "## Metrics" section');
  const rows = section.split('\n').filter((l) => l.startsWith('|')).slice(2); // header and separator
  return rows.map((l) => {
    const cells = l.slice(1, -1).split('|').map((c) => c.trim());
    const names = (cells[2] ?? '').replace(/`/g, '').trim();
    return {
      name: (cells[0] ?? '').replace(/`/g, ''),
      type: cells[1] ?? '',
      labels: names === '—' || names === '' ? [] : names.split(',').map((s) => s.trim()),
      meaning: cells[3] ?? '',
    };
  });
}

/** The registry's own families: what createMetrics adds beyond prom-client's defaults. */
async function ownFamilies() {
  const p = 'sip_sidecar_';
  const defaults = new client.Registry();
  client.collectDefaultMetrics({ register: defaults, prefix: p });
  const defaultNames = new Set((await defaults.getMetricsAsJSON()).map((m) => m.name));
  const m = createMetrics('test');
  const all = await m.registry.getMetricsAsJSON();
  return {
    defaults: all.filter((x) => defaultNames.has(x.name)).map((x) => x.name),
    own: all.filter((x) => !defaultNames.has(x.name)).map((x) => ({
      name: x.name,
      type: String(x.type),
      labels: [...((m.registry.getSingleMetric(x.name) as unknown as { labelNames?: string[] }).labelNames ?? [])],
    })),
  };
}

t.test('the README table lists exactly the exported families, with type and labels', async (t) => {
  const rows = await metricsTable();
  const { own } = await ownFamilies();
  t.ok(own.length >= 19, `the registry's own families (${own.length})`);
  const documented = rows.filter((r) => !r.name.includes('*'));
  t.same(documented.map((r) => r.name).sort(), own.map((f) => f.name).sort(), 'same names');
  for (const f of own) {
    const row = documented.find((r) => r.name === f.name);
    if (!row) continue;
    t.equal(row.type, f.type, `${f.name}: type`);
    t.same(row.labels.sort(), f.labels.sort(), `${f.name}: labels`);
    t.ok(row.meaning.length > 10, `${f.name}: meaning`);
  }
  t.equal(new Set(documented.map((r) => r.name)).size, documented.length, 'no family listed twice');
});

t.test('prom-client defaults are covered by the wildcard row', async (t) => {
  const rows = await metricsTable();
  const { defaults } = await ownFamilies();
  t.ok(defaults.length > 5, 'defaults are exported');
  const patterns = rows.filter((r) => r.name.includes('*'))
    .flatMap((r) => r.name.split(',').map((s) => s.trim()))
    .map((p) => new RegExp(`^${p.replace(/\*/g, '.*')}$`));
  for (const d of defaults) t.ok(patterns.some((p) => p.test(d)), `${d} is covered`);
});
