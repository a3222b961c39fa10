import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import test from 'ava';
import { schemaFeatures } from '../src/index.ts';

// The bundled model's card (written by the Python trainer) against the card contract and the TypeScript view
// of the transaction schema: the scorer builds its input rows from exactly these features, in this order.
const read = (url: URL) => JSON.parse(readFileSync(url, 'utf8'));
const cardSchema = read(new URL('../schema/model-card.schema.json', import.meta.url));
const bundled = read(new URL('../../../functions/score/model/model-card.json', import.meta.url));

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats.default(ajv);
const validate = ajv.compile(cardSchema);

test('the bundled model card satisfies model-card.schema.json', (t) => {
  t.true(validate(bundled), ajv.errorsText(validate.errors));
});

test('the bundled card lists the schema features in schema order, and the input width matches', (t) => {
  t.deepEqual(bundled.features, schemaFeatures());
  t.is(bundled.input.shape[1], bundled.features.length);
  t.is(bundled.version, 'bundled');
});

test('the baseline CDF is monotone and ends at 1 over the bucket edges', (t) => {
  const { score_buckets: edges, score_cumulative_fraction: cdf } = bundled.baseline;
  t.is(cdf.length, edges.length);
  t.true(cdf.every((v: number, i: number) => i === 0 || v >= cdf[i - 1]));
  t.is(cdf.at(-1), 1);
});

test('the card schema rejects a card without a threshold or with a failed parity check', (t) => {
  const { threshold: _threshold, ...noThreshold } = bundled;
  t.false(validate(noThreshold));
  t.regex(ajv.errorsText(validate.errors), /threshold/);
  t.false(validate({ ...bundled, parity: { ...bundled.parity, passed: false } }));
  t.false(validate({ ...bundled, features: [{ name: 'merchant_category', type: 'category' }] }));
});
