import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import test from 'ava';
import fc from 'fast-check';
import { generateTransactions, patternNames, transactionSchema, withoutLabels } from '../src/index.ts';

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats.default(ajv);
const validate = ajv.compile(transactionSchema);

test('default rows validate against the transaction schema once the label fields are removed', (t) => {
  for (const row of generateTransactions({ seed: 42, count: 2000 })) {
    const ok = validate(withoutLabels(row));
    if (!ok) t.fail(`${row.transaction_id}: ${ajv.errorsText(validate.errors)}`);
  }
  t.pass();
});

test('the schema rejects the label fields, so a labelled row cannot pass for a transaction', (t) => {
  const [row] = generateTransactions({ seed: 1, count: 1 });
  t.false(validate(row));
  t.regex(ajv.errorsText(validate.errors), /additional properties/);
});

test('any seed, fraud ratio and pattern yields schema-valid rows (property)', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.option(fc.constantFrom(...patternNames), { nil: undefined }),
      (seed, fraudRatio, pattern) => {
        for (const row of generateTransactions({ seed, count: 50, fraudRatio, pattern })) {
          if (!validate(withoutLabels(row))) {
            throw new Error(`${JSON.stringify(row)}: ${ajv.errorsText(validate.errors)}`);
          }
        }
      },
    ),
    { numRuns: 100 },
  );
  t.pass();
});
