import { readFileSync } from 'node:fs';
import test from 'ava';
import { generateTransactions, transactionStream } from '../src/index.ts';

// The committed vectors are also checked by airflow/tests/test_synthetic.py: together they prove that the
// TypeScript and Python generators produce the same rows.
interface Vector {
  file: string;
  seed: number;
  count: number;
  fraud_ratio?: number;
  pattern?: string;
}
const dir = new URL('../test-vectors/', import.meta.url);
const { vectors } = JSON.parse(readFileSync(new URL('vectors.json', dir), 'utf8')) as { vectors: Vector[] };

for (const v of vectors) {
  test(`reproduces test vector ${v.file} exactly`, (t) => {
    const expected = readFileSync(new URL(v.file, dir), 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    t.is(expected.length, v.count);
    const rows = generateTransactions({
      seed: v.seed,
      count: v.count,
      fraudRatio: v.fraud_ratio,
      pattern: v.pattern,
    });
    t.deepEqual(rows, expected);
  });
}

test('the streaming form yields the same rows as generateTransactions', (t) => {
  const rows = generateTransactions({ seed: 42, count: 300 });
  const stream = transactionStream({ seed: 42 });
  const streamed = Array.from({ length: 300 }, () => stream.next().value);
  t.deepEqual(streamed, rows);
});
