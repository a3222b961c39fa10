// The attack generator's Kafka drop-ins give the same bytes and partitions as kafkajs' own code, and its
// producer threads keep each card's events on one connection.

import { memoizedDefaultPartitioner } from '@fraud/local-dispatcher/kafka-partitioner.mjs';
import { encodeRecord, type RecordFields, stockRecord } from '@fraud/local-dispatcher/kafka-record.mjs';
import { transactionMessage } from '@fraud/local-dispatcher/transaction-event';
import { TransactionSource, withoutLabels } from '@fraud/transactions';
import test from 'ava';
import fc from 'fast-check';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { defaultProducers, parseArgs } from '../attack/args.mts';
import { workerOf } from '../attack/targets.mts';

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

test('with several producers each card stays on one worker, and the cards spread over all of them', (t) => {
  const counts = [0, 0, 0];
  for (let i = 0; i < 30_000; i++) {
    const card = `card-${String(i % 10_000).padStart(7, '0')}`;
    const w = workerOf(card, 3);
    t.is(w, workerOf(card, 3));
    counts[w] = (counts[w] as number) + 1;
  }
  for (const c of counts) t.true(c > 8000 && c < 12_000, `uneven spread ${counts.join('/')}`);
  t.is(workerOf('anything', 1), 0);
});

test('the default producer count follows the machine (one per core, 1..8)', (t) => {
  const n = parseArgs(['--count', '1'], {}).producers;
  t.is(n, defaultProducers());
  t.true(n >= 1 && n <= 8);
  t.is(parseArgs(['--count', '1', '--producers', '3'], {}).producers, 3);
});
