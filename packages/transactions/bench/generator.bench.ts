// Generator and encoder throughput, next to a baseline measured in the same run: JSON.stringify of the
// same rows, a cost every producer pays per row anyway. A ratio > 1 means generating is cheaper than sending.
//   npm run bench --workspace packages/transactions [-- rows]
import { performance } from 'node:perf_hooks';
import { schemaFeatures, TransactionSource, toFeatureVector } from '../src/index.ts';

const rows = Number(process.argv[2] ?? 200_000);
const features = schemaFeatures();

function rate(label: string, work: () => void): number {
  work(); // warm-up pass (JIT), not timed
  const started = performance.now();
  work();
  const perSecond = rows / ((performance.now() - started) / 1000);
  console.log(`${label.padEnd(34)} ${Math.round(perSecond).toLocaleString('en').padStart(12)} rows/s`);
  return perSecond;
}

const sample = (() => {
  const source = new TransactionSource({ seed: 1 });
  return Array.from({ length: rows }, () => source.next());
})();

const baseline = rate('baseline: JSON.stringify(row)', () => {
  let bytes = 0;
  for (const row of sample) bytes += JSON.stringify(row).length;
  if (bytes === 0) throw new Error('unreachable');
});
const generate = rate('generate (default fraud ratio)', () => {
  const source = new TransactionSource({ seed: 42 });
  for (let i = 0; i < rows; i++) source.next();
});
const attack = rate('generate (card_testing only)', () => {
  const source = new TransactionSource({ seed: 42, pattern: 'card_testing' });
  for (let i = 0; i < rows; i++) source.next();
});
const encode = rate('toFeatureVector into a batch buffer', () => {
  const batch = new Float32Array(features.length * 256);
  for (let i = 0; i < rows; i++) toFeatureVector(sample[i]!, features, batch, (i % 256) * features.length);
});

console.log(
  `ratios vs baseline: generate ${(generate / baseline).toFixed(2)}x, card_testing ${(attack / baseline).toFixed(2)}x, ` +
    `encode ${(encode / baseline).toFixed(2)}x (rows=${rows}, node ${process.version})`,
);
