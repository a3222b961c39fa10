// Valid transactions for whatever model is served, derived from its card (so the tests keep working for a
// model trained on other features), as fast-check arbitraries and as seeded samples.
import fc from 'fast-check';
import type { Feature, ModelCard } from '../../src/model/card.ts';
import type { Transaction } from '../../src/model/features.ts';

function featureArb(f: Feature): fc.Arbitrary<unknown> {
  switch (f.type) {
    case 'boolean':
      return fc.boolean();
    case 'category':
      return fc.constantFrom(...f.categories);
    case 'integer':
      return fc.integer({ min: Math.ceil(f.minimum ?? -1e6), max: Math.floor(f.maximum ?? 1e6) });
    case 'number':
      return fc.double({
        min: f.minimum ?? -1e6,
        max: f.maximum ?? 1e6,
        noNaN: true,
        noDefaultInfinity: true,
      });
  }
}

const idArb = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/);

export function transactionArb(card: ModelCard): fc.Arbitrary<Transaction> {
  const features: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of card.features) features[f.name] = featureArb(f);
  return fc.record({
    ...features,
    transaction_id: idArb,
    card_id: idArb,
    timestamp: fc
      .date({
        min: new Date('2020-01-01T00:00:00Z'),
        max: new Date('2030-01-01T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString()),
  }) as fc.Arbitrary<Transaction>;
}

export function sampleTransactions(card: ModelCard, count: number, seed = 42): Transaction[] {
  return fc.sample(transactionArb(card), { numRuns: count, seed });
}
