// The attack generator's Kafka drop-ins give the same bytes and partitions as kafkajs' own code.
import { transactionMessage } from '@fraud/local-dispatcher/transaction-event';
import { TransactionSource, withoutLabels } from '@fraud/transactions';
import test from 'ava';
import fc from 'fast-check';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { memoizedDefaultPartitioner } from '../attack/kafka-partitioner.mjs';
import { encodeRecord, type RecordFields, stockRecord } from '../attack/kafka-record.mjs';

const stock = stockRecord();
const bytes = fc.oneof(
  fc.constant(null),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
);
const headerValue = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
);
const fields: fc.Arbitrary<RecordFields> = fc.record({
  offsetDelta: fc.integer({ min: 0, max: 100_000 }),
  timestampDelta: fc.oneof(fc.integer({ min: -5000, max: 5000 }), fc.maxSafeInteger(), fc.constant(2 ** 31)),
  key: bytes,
  value: bytes,
  headers: fc.dictionary(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
    fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 })),
    { maxKeys: 12 },
  ),
});

test('the fast record encoder writes what kafkajs writes (or leaves the record to kafkajs)', (t) => {
  fc.assert(
    fc.property(fields, (f) => {
      const fast = encodeRecord(f);
      const expected = stock(f).buffer;
      return (fast ?? stock(f)).buffer.equals(expected);
    }),
    { numRuns: 2000 },
  );
  // The common case is really on the fast path.
  t.not(encodeRecord({ key: 'card-1', value: '{}', headers: { ce_id: 'x' } }), null);
  t.is(encodeRecord({ key: 'k', value: 'v', timestampDelta: 2 ** 40 }), null);
  t.is(encodeRecord({ key: 'k', value: 'v', headers: { h: null } }), null);
});

test('binary and structured CloudEvent records from the generator encode byte for byte like kafkajs', (t) => {
  const source = new TransactionSource({ seed: 7, fraudRatio: 0.3 });
  const time = new Date().toISOString();
  for (let i = 0; i < 2000; i++) {
    const mode = i % 2 ? 'binary' : 'structured';
    const m = transactionMessage(withoutLabels(source.next()), { source: '/attack-generator', mode, time });
    const f = { ...m, offsetDelta: i, timestampDelta: 0 } as RecordFields;
    const fast = encodeRecord(f);
    t.not(fast, null);
    if (!fast?.buffer.equals(stock(f).buffer)) t.fail(`record ${i} (${mode}) differs`);
  }
  t.pass();
});

const metadata = (n: number): PartitionMetadata[] =>
  Array.from({ length: n }, (_, partitionId) => ({
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
    partitionErrorCode: 0,
    offlineReplicas: [],
  }));

test('the memoized partitioner picks the same partition as kafkajs for every key, also after a resize', (t) => {
  const memo = memoizedDefaultPartitioner();
  const reference = Partitioners.DefaultPartitioner();
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          key: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('card-0000001', 'card-0000002')),
          partitions: fc.constantFrom(1, 6, 48),
          topic: fc.constantFrom('a', 'b'),
        }),
        { maxLength: 50 },
      ),
      (calls) => {
        for (const { key, partitions, topic } of calls) {
          const args = { topic, partitionMetadata: metadata(partitions), message: { key, value: 'v' } };
          if (memo(args) !== reference(args)) return false;
        }
        return true;
      },
    ),
    { numRuns: 500 },
  );
  // An explicit partition wins, as in kafkajs.
  t.is(
    memo({ topic: 'a', partitionMetadata: metadata(6), message: { key: 'k', value: 'v', partition: 4 } }),
    4,
  );
});
