import test from 'ava';
import fc from 'fast-check';
import {
  type FeatureSpec,
  generateTransactions,
  merchantCategories,
  schemaFeatures,
  toFeatureVector,
  transactionSchema,
} from '../src/index.ts';

const features = schemaFeatures();

test('schema features are the x-feature properties, in schema order, with their types', (t) => {
  const annotated = Object.entries(transactionSchema.properties)
    .filter(([, p]) => p['x-feature'])
    .map(([name, p]) => [name, p['x-feature']]);
  t.deepEqual(
    features.map((f) => [f.name, f.type]),
    annotated,
  );
  const category = features.find((f) => f.type === 'category');
  t.deepEqual(category?.type === 'category' ? category.categories : [], merchantCategories);
});

test('encodes numbers as is, booleans as 0/1 and categories as their index', (t) => {
  const [row] = generateTransactions({ seed: 4, count: 1 });
  const vector = toFeatureVector(row!, features);
  t.is(vector.length, features.length);
  features.forEach((f, i) => {
    const raw = row![f.name as keyof typeof row];
    const expected =
      f.type === 'boolean'
        ? raw
          ? 1
          : 0
        : f.type === 'category'
          ? f.categories.indexOf(raw as string)
          : raw;
    t.is(vector[i], Math.fround(expected as number), f.name);
  });
});

test('generated rows encode to finite values within each feature bound (property)', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
      const batch = new Float32Array(features.length * 20);
      generateTransactions({ seed, count: 20, fraudRatio: 0.5 }).forEach((row, r) => {
        toFeatureVector(row, features, batch, r * features.length);
      });
      return batch.every((v, i) => {
        const f = features[i % features.length] as FeatureSpec;
        if (!Number.isFinite(v)) return false;
        if (f.type === 'number') return v >= (f.minimum ?? -Infinity) && v <= (f.maximum ?? Infinity);
        if (f.type === 'boolean') return v === 0 || v === 1;
        return Number.isInteger(v) && v >= 0 && v < f.categories.length;
      });
    }),
    { numRuns: 50 },
  );
  t.pass();
});

test('a bad value names the feature and what was expected', (t) => {
  const [row] = generateTransactions({ seed: 4, count: 1 });
  t.throws(() => toFeatureVector({ ...row, amount: 'ten' }, features), {
    message: /amount: expected a finite number/,
  });
  t.throws(() => toFeatureVector({ ...row, merchant_category: 'casino' }, features), {
    message: /merchant_category: expected one of grocery/,
  });
  t.throws(() => toFeatureVector({ ...row, foreign: 'yes' }, features), {
    message: /foreign: expected a boolean/,
  });
  const { hour: _hour, ...withoutHour } = row!;
  t.throws(() => toFeatureVector(withoutHour, features), {
    message: /hour: expected a finite number, got nothing/,
  });
});
