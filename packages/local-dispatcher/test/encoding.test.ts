// Pure encoding and mapping rules (no broker): the fast transaction encoder equals the SDK's, records map to
// the CloudEvents a KafkaSource would deliver, and arbitrary records never crash the mapping.
import test from 'ava';
import fc from 'fast-check';
import { bridgeConfig, ConfigError, dispatcherConfig } from '../src/config.ts';
import { backoffMs, isRetryable, knativeDefaultRetry } from '../src/deliver.ts';
import { encodeHeaderValue, toHttpBinary } from '../src/http-binary.ts';
import { recordToEvent, type SourceRecord } from '../src/records.ts';
import { transactionMessage, transactionMessageViaSdk } from '../src/transaction-event.ts';

const txArb = fc.record({
  transaction_id: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/),
  card_id: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/),
  amount: fc.double({ min: 0, max: 1e6, noNaN: true }),
  merchant_category: fc.constantFrom('grocery', 'travel'),
  card_present: fc.boolean(),
});

const asRecord = (m: ReturnType<typeof transactionMessage>, offset = '0'): SourceRecord => ({
  topic: 'transactions',
  partition: 0,
  offset,
  key: Buffer.from(String(m.key)),
  value: Buffer.from(String(m.value)),
  headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, Buffer.from(String(v))])),
});

test('the fast transaction encoder produces exactly the SDK binding output (binary and structured)', (t) => {
  fc.assert(
    fc.property(txArb, fc.constantFrom('binary' as const, 'structured' as const), (tx, mode) => {
      const time = new Date('2026-11-28T00:00:00.123Z');
      const fast = transactionMessage(tx, { source: '/attack-generator', mode, time });
      const sdk = transactionMessageViaSdk(tx, { source: '/attack-generator', mode, time });
      t.is(fast.key, sdk.key);
      t.deepEqual(fast.headers, sdk.headers);
      if (mode === 'binary') t.is(fast.value, sdk.value);
      else t.deepEqual(JSON.parse(String(fast.value)), JSON.parse(String(sdk.value)));
    }),
    { numRuns: 200 },
  );
});

test('a transaction record reads back as the same CloudEvent in both content modes', (t) => {
  fc.assert(
    fc.property(txArb, fc.constantFrom('binary' as const, 'structured' as const), (tx, mode) => {
      const mapped = recordToEvent(asRecord(transactionMessage(tx, { source: '/s', mode })), 'src');
      if (!mapped.ok) return t.fail(mapped.reason);
      t.false(mapped.wrapped);
      t.is(mapped.event.id, tx.transaction_id);
      t.is(mapped.event.type, 'dev.fraud.transaction.v1');
      t.is(mapped.event.subject, tx.card_id);
      t.is((mapped.event as unknown as { partitionkey: string }).partitionkey, tx.card_id);
      const http = toHttpBinary(mapped.event);
      t.is(http.headers['content-type'], 'application/json');
      t.deepEqual(JSON.parse(http.body.toString()), tx);
    }),
    { numRuns: 100 },
  );
});

test('arbitrary records never throw: they map to an event or to a reason', (t) => {
  const headerArb = fc.dictionary(
    fc.oneof(fc.constantFrom('ce_specversion', 'ce_id', 'ce_type', 'ce_source', 'content-type'), fc.string()),
    fc.oneof(fc.string(), fc.constantFrom('1.0', 'application/cloudevents+json', 'application/json')),
  );
  fc.assert(
    fc.property(
      headerArb,
      fc.option(fc.uint8Array({ maxLength: 200 })),
      fc.option(fc.string()),
      (headers, value, key) => {
        const record: SourceRecord = {
          topic: 't',
          partition: 3,
          offset: '42',
          key: key === null ? null : Buffer.from(key),
          value: value === null ? null : Buffer.from(value),
          headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
        };
        const mapped = recordToEvent(record, 'src');
        if (mapped.ok) {
          t.truthy(mapped.event.id);
          if (mapped.wrapped) t.is(mapped.event.id, 'partition:3/offset:42');
          toHttpBinary(mapped.event);
        } else t.regex(mapped.reason, /CloudEvent|wrap/);
      },
    ),
    { numRuns: 300 },
  );
});

test('header values are percent-encoded outside printable ASCII and round-trip', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), (s) => {
      const encoded = encodeHeaderValue(s);
      t.regex(encoded, /^[\x21-\x7e]*$/);
      t.is(decodeURIComponent(encoded), s);
    }),
  );
});

test('retry policy: the KafkaSource defaults and which answers are retried', (t) => {
  t.deepEqual(
    [knativeDefaultRetry.retries, knativeDefaultRetry.backoffDelayMs, knativeDefaultRetry.backoffPolicy],
    [10, 300, 'exponential'],
  );
  t.deepEqual(
    [0, 1, 2, 3].map((a) => backoffMs(knativeDefaultRetry, a)),
    [300, 600, 1200, 2400],
  );
  t.deepEqual(
    [500, 503, 404, 408, 409, 429, 400, 401, 413, 415].map((status) =>
      isRetryable({ status, body: Buffer.alloc(0) }),
    ),
    [true, true, true, true, true, true, false, false, false, false],
  );
  t.true(isRetryable({ body: Buffer.alloc(0), error: 'ECONNREFUSED' }));
});

test('bad dispatcher and bridge configuration is rejected naming the variable', (t) => {
  t.throws(() => dispatcherConfig({}), { instanceOf: ConfigError, message: /SINK_URL is required/ });
  t.throws(() => dispatcherConfig({ SINK_URL: 'ftp://x' }), { message: /SINK_URL must be an http/ });
  t.throws(() => dispatcherConfig({ SINK_URL: 'http://x/', ORDERING: 'random' }), {
    message: /ORDERING must be one of/,
  });
  t.throws(() => dispatcherConfig({ SINK_URL: 'http://x/', RETRY: '-1' }), {
    message: /RETRY must be an integer/,
  });
  t.throws(() => dispatcherConfig({ SINK_URL: 'http://x/', KAFKA_BOOTSTRAP: 'nohost' }), {
    message: /KAFKA_BOOTSTRAP/,
  });
  const ok = dispatcherConfig({ SINK_URL: 'http://127.0.0.1:8080/' });
  t.is(ok.deadLetterTopic, 'transactions-dlq');
  t.is(ok.ordering, 'ordered');
  t.is(ok.retry?.retries, 10);
  t.throws(() => bridgeConfig({ LINGER_MS: '-1' }), { message: /LINGER_MS must be an integer/ });
  t.is(bridgeConfig({}).lingerMs, 0);
  t.is(bridgeConfig({ LINGER_MS: '2' }).lingerMs, 2);
});
