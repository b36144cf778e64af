// Summarises a V8 .cpuprofile (node --cpu-prof; `npm run bench -- --profile` writes the daemon's):
// self time by function and by package/file, and total (inclusive) time of the heaviest frames.
//   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs bench/profile-summary.ts <file.cpuprofile> [top]
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile-summary <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const self = new Map<number, number>();
for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
const totalUs = [...self.values()].reduce((a, b) => a + b, 0);

const short = (url: string) => url.replace(/^file:\/\//, '').replace(/.*node_modules\//, 'nm:').replace(/.*\/work\/main\//, '');
const label = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
const group = (n: Node) => {
  const u = short(n.callFrame.url);
  if (!u) return n.callFrame.functionName.startsWith('(') ? n.callFrame.functionName : '(native)';
  const m = /^nm:((?:@[^/]+\/)?[^/]+)/.exec(u);
  return m ? m[1]! : u.startsWith('node:') ? 'node:' + u.slice(5).split('/')[0] : u;
};

const selfBy = (key: (n: Node) => string) => {
  const m = new Map<string, number>();
  for (const [id, us] of self) m.set(key(byId.get(id)!), (m.get(key(byId.get(id)!)) ?? 0) + us);
  return [...m].sort((a, b) => b[1] - a[1]);
};
// Inclusive: each sample counts once for every distinct frame label on its stack.
const incl = new Map<string, number>();
for (const [id, us] of self) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!);
    if (seen.has(l)) continue;
    seen.add(l);
    incl.set(l, (incl.get(l) ?? 0) + us);
  }
}
const pct = (us: number) => `${((100 * us) / totalUs).toFixed(1).padStart(5)} %`;
const print = (title: string, rows: [string, number][], n: number) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, us] of rows.slice(0, n)) process.stdout.write(`${pct(us)}  ${k}\n`);
};
process.stdout.write(`${file}: ${(totalUs / 1e6).toFixed(1)} s sampled, ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s wall\n`);
print('self time by package / file', selfBy(group), 20);
print('self time by function', selfBy(label), top);
print('inclusive time by function', [...incl].sort((a, b) => b[1] - a[1]), top);
