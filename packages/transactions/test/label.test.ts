import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import test from 'ava';
import fc from 'fast-check';
import { LABEL_TYPE, labelSchema, labelSources, transactionSchema } from '../src/index.ts';

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats.default(ajv);
const validate = ajv.compile(labelSchema);

const good = {
  transaction_id: 'attack-1-42',
  card_id: 'card_000123',
  is_fraud: true,
  source: 'chargeback',
  labeled_at: '2026-12-02T10:00:00.000Z',
};

test('a label names its type and its sources, as docs/DESIGN.md says', (t) => {
  t.is(LABEL_TYPE, 'dev.fraud.label.v1');
  t.deepEqual([...labelSources], ['chargeback', 'analyst', 'customer']);
  t.deepEqual(labelSchema.properties.source?.enum, [...labelSources]);
  t.true(validate(good), ajv.errorsText(validate.errors));
});

test('label ids follow the transaction schema, so every transaction can be labelled', (t) => {
  for (const field of ['transaction_id', 'card_id'] as const) {
    const { description: _a, ...tx } = transactionSchema.properties[field]!;
    const { description: _b, ...label } = labelSchema.properties[field]!;
    t.deepEqual(label, tx, field);
  }
});

test('the label schema rejects each kind of bad label, naming the field', (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...good, is_fraud: 1 }, /is_fraud must be boolean/],
    [{ ...good, source: 'model' }, /source must be equal to one of the allowed values/],
    [{ ...good, labeled_at: 'yesterday' }, /labeled_at must match format "date-time"/],
    [{ ...good, card_id: '' }, /card_id must NOT have fewer than 1 characters/],
    [{ ...good, pattern: 'card_testing' }, /must NOT have additional properties/],
    [(({ transaction_id: _, ...rest }) => rest)(good), /must have required property 'transaction_id'/],
  ];
  for (const [label, error] of cases) {
    t.false(validate(label), JSON.stringify(label));
    t.regex(ajv.errorsText(validate.errors), error);
  }
});

test('any well-formed label validates (property)', (t) => {
  const id = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/);
  fc.assert(
    fc.property(
      id,
      id,
      fc.boolean(),
      fc.constantFrom(...labelSources),
      fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
      (transaction_id, card_id, is_fraud, source, at) =>
        validate({ transaction_id, card_id, is_fraud, source, labeled_at: at.toISOString() }),
    ),
  );
  t.pass();
});
