// Regenerates test-vectors/*.jsonl from test-vectors/vectors.json. Run it only when generator.json or the
// generator changes on purpose; both language's tests then check the new rows.
import { readFileSync, writeFileSync } from 'node:fs';
import { generateTransactions } from '../src/index.ts';

interface Vector {
  file: string;
  seed: number;
  count: number;
  fraud_ratio?: number;
  /** Only this pattern (opt-in patterns such as bust_out are never drawn by the default mix). */
  pattern?: string;
}

const dir = new URL('../test-vectors/', import.meta.url);
const { vectors } = JSON.parse(readFileSync(new URL('vectors.json', dir), 'utf8')) as { vectors: Vector[] };
for (const v of vectors) {
  const rows = generateTransactions({
    seed: v.seed,
    count: v.count,
    fraudRatio: v.fraud_ratio,
    pattern: v.pattern,
  });
  writeFileSync(new URL(v.file, dir), `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
  console.log(`wrote ${v.file}: ${rows.length} rows, ${rows.filter((r) => r.is_fraud).length} fraud`);
}
