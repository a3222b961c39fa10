// Realistic rows from the shared synthetic generator (@fraud/transactions): every pattern is accepted and
// scored, the scorer's encoding agrees with the generator's own toFeatureVector, and fraud scores higher.
import {
  generateTransactions,
  generatorSpec,
  patternNames,
  toFeatureVector,
  withoutLabels,
} from '@fraud/transactions';
import test from 'ava';
import { rowEncoder } from '../src/model/features.ts';
import { loadCard } from './helpers/model.ts';
import { type InProcess, inProcess } from './helpers/server.ts';

const card = loadCard();
let s: InProcess;
test.before(async () => {
  s = await inProcess();
});
test.after.always(async () => {
  await s?.close();
});

test('the scorer encodes generated rows exactly like the generator package does', (t) => {
  const rows = generateTransactions({ seed: 3, count: 200 });
  const encode = rowEncoder(card);
  const features = card.features.map((f) => ({ ...f })) as Parameters<typeof toFeatureVector>[1];
  for (const row of rows) {
    const ours = new Float32Array(card.features.length);
    encode(withoutLabels(row) as unknown as Record<string, unknown>, ours, 0);
    t.deepEqual(ours, toFeatureVector(row, features));
  }
});

test('every generator pattern is accepted; trained fraud patterns score higher than legit on average', async (t) => {
  const mean: Record<string, number> = {};
  for (const pattern of patternNames) {
    const rows = generateTransactions({ seed: 5, count: 200, pattern }).map(withoutLabels);
    const res = await s.app.inject({ method: 'POST', url: '/score', payload: rows });
    t.is(res.statusCode, 200, `${pattern}: ${res.body.slice(0, 300)}`);
    const decisions = res.json() as { fraud_probability: number }[];
    mean[pattern] = decisions.reduce((sum, d) => sum + d.fraud_probability, 0) / decisions.length;
  }
  const legit = mean.legit as number;
  // Only the patterns the bundled model was trained on; opt-in ones (bust_out) are meant to be missed.
  for (const pattern of Object.keys(generatorSpec.fraud_pattern_weights))
    t.true((mean[pattern] as number) > legit, `${pattern} ${mean[pattern]} vs legit ${legit}`);
});
