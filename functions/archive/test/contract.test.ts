// The folder is built alone, so it carries copies of shared contracts: hold them equal to the originals.
import { readFileSync } from 'node:fs';
import { labelSchema, transactionSchema } from '@fraud/transactions';
import test from 'ava';
import { parseHttpEvent } from '../src/events.ts';
import { looksLikePan } from '../src/pan.ts';

test('schema/label.schema.json is packages/transactions/schema/label.schema.json', (t) => {
  const copy = JSON.parse(readFileSync(new URL('../schema/label.schema.json', import.meta.url), 'utf8'));
  t.deepEqual(copy, labelSchema);
});

test("the transaction fields the archive checks have the transaction schema's bounds", (t) => {
  const at = (field: string) => {
    const {
      description: _d,
      'x-feature': _x,
      ...rest
    } = transactionSchema.properties[field] as Record<string, unknown>;
    return rest;
  };
  const headers = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': '1',
    'ce-source': '/t',
    'ce-type': 'dev.fraud.transaction.v1',
  };
  const tx = { transaction_id: 'a', card_id: 'b', timestamp: '2026-12-01T00:00:00Z', amount: 1 };
  t.is(parseHttpEvent(headers, JSON.stringify(tx)).type, 'dev.fraud.transaction.v1');
  t.is(at('amount').maximum, 1_000_000);
  t.throws(() => parseHttpEvent(headers, JSON.stringify({ ...tx, amount: 1_000_000.01 })), {
    message: /data\.amount must be <= 1000000/,
  });
  t.deepEqual(at('transaction_id'), {
    type: 'string',
    minLength: 1,
    maxLength: 64,
    pattern: '^[A-Za-z0-9_.:-]+$',
  });
  t.throws(() => parseHttpEvent(headers, JSON.stringify({ ...tx, transaction_id: 'x'.repeat(65) })), {
    message: /data\.transaction_id must NOT have more than 64 characters/,
  });
  t.throws(() => parseHttpEvent(headers, JSON.stringify({ ...tx, card_id: 'a b' })), {
    message: /data\.card_id must match pattern/,
  });
});

test('looksLikePan: Luhn-valid 13-19 digits, separators ignored; anything else is a token', (t) => {
  for (const pan of [
    '4111111111111111',
    '4111 1111 1111 1111',
    '5555-5555-5555-4444',
    '378282246310005',
    '4222222222222',
    '6011111111111117',
    '3530111333300000',
  ]) {
    t.true(looksLikePan(pan), pan);
  }
  for (const token of [
    '4111111111111112',
    'card_000123',
    '123456789012',
    '41111111111111111111',
    'tok_4111111111111111',
    '',
  ]) {
    t.false(looksLikePan(token), token);
  }
});
