// One result table for every section: each figure with its same-run baseline, the ratio, the goal.
import { round } from './common.js';

export interface Row {
  section: string;
  metric: string;
  value: number;
  unit: string;
  /** the same-run baseline this figure is a ratio against */
  baseline?: { name: string; value: number };
  ratio?: number;
  goal: string;
  /** null: reported, no goal */
  met: boolean | null;
}

export interface SectionResult {
  rows: Row[];
  details: Record<string, unknown>;
}

export function ratioRow(r: Omit<Row, 'ratio'> & { baseline: { name: string; value: number } }): Row {
  return { ...r, ratio: round(r.value / r.baseline.value, 3) };
}

const fmt = (x: number | undefined, unit = ''): string => {
  if (x === undefined) return '';
  if (!Number.isFinite(x)) return String(x);
  const v = Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : String(round(x, Math.abs(x) >= 10 ? 1 : 3));
  return unit ? `${v} ${unit}` : v;
};

/** A Markdown table (also readable as plain text). */
export function renderTable(rows: Row[]): string {
  const head = ['section', 'metric', 'value', 'baseline (same run)', 'ratio', 'goal', 'met'];
  const body = rows.map((r) => [
    r.section, r.metric, fmt(r.value, r.unit),
    r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value, r.unit)}` : '',
    r.ratio === undefined ? '' : `${fmt(r.ratio)}×`,
    r.goal, r.met === null ? '—' : r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
