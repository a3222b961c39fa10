import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '@fraud/testkit/paths';
import test from 'ava';
import { parseModelCard } from '../src/model/card.ts';
import { metadataProperties, rowEncoder, transactionSchema } from '../src/model/features.ts';
import { loadCard } from './helpers/model.ts';
import { sampleTransactions } from './helpers/transactions.ts';

const txSchema = JSON.parse(
  readFileSync(path.join(repoRoot, 'packages/transactions/schema/transaction.schema.json'), 'utf8'),
) as { properties: Record<string, Record<string, unknown>> };

test('metadata fields accepted besides features are exactly those of the transaction schema', (t) => {
  for (const [name, schema] of Object.entries(metadataProperties)) {
    const { description: _d, ...upstream } = txSchema.properties[name] ?? {};
    t.deepEqual(schema, upstream, name);
  }
});

test('the bundled card covers the transaction schema features with matching categories', (t) => {
  const card = loadCard();
  const upstream = Object.entries(txSchema.properties).filter(([, p]) => p['x-feature']);
  t.deepEqual(card.features.map((f) => f.name).sort(), upstream.map(([n]) => n).sort());
  for (const f of card.features) {
    const p = txSchema.properties[f.name] as { enum?: string[] };
    if (f.type === 'category') t.deepEqual(f.categories, p.enum, f.name);
  }
});

test('the request schema requires every feature and rejects extra fields', (t) => {
  const schema = transactionSchema(loadCard()) as { required: string[]; additionalProperties: boolean };
  t.deepEqual(
    schema.required,
    loadCard().features.map((f) => f.name),
  );
  t.false(schema.additionalProperties);
});

test('encoder writes the card order: numbers as is, booleans 0/1, categories as their index', (t) => {
  const card = loadCard();
  const encode = rowEncoder(card);
  const [tx] = sampleTransactions(card, 1, 7);
  const out = new Float32Array(card.features.length + 2);
  encode(tx as Record<string, unknown>, out, 1);
  t.is(out[0], 0);
  t.is(out[card.features.length + 1], 0);
  card.features.forEach((f, i) => {
    const v = (tx as Record<string, unknown>)[f.name];
    const expected =
      f.type === 'boolean'
        ? v
          ? 1
          : 0
        : f.type === 'category'
          ? f.categories.indexOf(v as string)
          : Math.fround(v as number);
    t.is(out[i + 1], expected, f.name);
  });
});

test('card checks name the first problem', (t) => {
  const card = loadCard() as unknown as Record<string, unknown>;
  const broken: [string, (c: Record<string, unknown>) => void][] = [
    ['schema_version', (c) => (c.schema_version = 2)],
    ['threshold', (c) => (c.threshold = 2)],
    ['onnx.sha256', (c) => (c.onnx = { file: 'model.onnx', sha256: 'abc' })],
    ['plain file name', (c) => (c.onnx = { file: '../x.onnx', sha256: 'a'.repeat(64) })],
    ['unknown type', (c) => (c.features = [{ name: 'x', type: 'date' }])],
    [
      'repeated',
      (c) =>
        (c.features = [
          { name: 'x', type: 'boolean' },
          { name: 'x', type: 'boolean' },
        ]),
    ],
    ['categories', (c) => (c.features = [{ name: 'x', type: 'category', categories: [] }])],
  ];
  for (const [words, edit] of broken) {
    const copy = structuredClone(card);
    edit(copy);
    const err = t.throws(() => parseModelCard(copy));
    t.true(err?.message.includes(words), `${words}: ${err?.message}`);
  }
});
