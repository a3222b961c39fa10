// Summarises a V8 .cpuprofile: busy share of the window (samples that are not idle), then the functions with
// the most self time and the packages they come from. `npx tsx bench/profile-top.ts <file> [top]`
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: profile-top.ts <file.cpuprofile> [top]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  self.set(id, (self.get(id) ?? 0) + dt);
});
const where = (url: string) => {
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (m) return m[1] as string;
  if (url.startsWith('node:')) return url;
  if (url === '') return '(native)';
  return url.replace(/^.*\/(packages|functions|scripts)\//, '$1/');
};
const fn = new Map<string, number>();
const pkg = new Map<string, number>();
let idle = 0;
for (const [id, us] of self) {
  const n = byId.get(id) as Node;
  const name = n.callFrame.functionName || '(anonymous)';
  if (name === '(idle)') {
    idle += us;
    continue;
  }
  const key = `${name} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  const p = name === '(garbage collector)' ? '(gc)' : where(n.callFrame.url);
  pkg.set(p, (pkg.get(p) ?? 0) + us);
}
const busy = total - idle;
const pct = (us: number) => `${((100 * us) / Math.max(busy, 1)).toFixed(1)}%`.padStart(6);
console.log(
  `${file}: window ${(total / 1e6).toFixed(1)} s, main thread busy ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / total).toFixed(0)}%); shares below are of the busy time`,
);
const top = Number(topArg ?? 15);
console.log('  by package:');
for (const [k, us] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`    ${pct(us)} ${k}`);
console.log('  by function (self):');
for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`    ${pct(us)} ${k}`);
