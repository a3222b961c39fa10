// The stand-ins' fast paths against the cloudevents SDK path they shortcut (no broker): whatever a fast path
// accepts, the SDK accepts too and maps to the same headers, key and JSON value; what it declines takes the
// SDK path. Inputs are near-valid events with one or more attributes bent, so both outcomes occur often.
import test from 'ava';
import fc from 'fast-check';
import { viaSdk } from '../src/bridge.ts';
import { httpBinaryToKafka, kafkaBinaryToHttp } from '../src/fast-binary.ts';
import { toHttpBinary } from '../src/http-binary.ts';
import { headersAsStrings, recordToEvent, type SourceRecord } from '../src/records.ts';
import { transactionMessage } from '../src/transaction-event.ts';

// Mostly valid values, sometimes bent: w(good, bad) picks the good one ten times as often.
const w = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: good, weight: 10 }, { arbitrary: bad, weight: 1 });
const text = w(
  fc.stringMatching(/^[A-Za-z0-9_.:-]{1,40}$/),
  fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }),
    fc.constantFrom('a b', 'x"y', '50%', ''),
  ),
);
const source = w(
  fc.stringMatching(/^\/[a-z0-9/_-]{0,30}$/),
  fc.constantFrom('https://example.com/x', 'urn:a:b', '/a b', '', '%zz', '/é'),
);
const time = w(
  fc
    .date({ min: new Date('1971-01-01'), max: new Date('2999-12-31'), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc.constantFrom(
    '2026-12-02T20:00:00Z',
    '2026-12-02T20:00:00.123+01:00',
    'yesterday',
    '2026-13-01T00:00:00.000Z',
  ),
);
const extensionName = w(
  fc.stringMatching(/^[a-z0-9]{1,20}$/),
  fc.constantFrom(
    'data',
    'dataschema',
    'datacontenttype',
    'schemaurl',
    'partitionkey',
    'Bad-Name',
    'x_y',
    '',
  ),
);
const jsonBody = w(
  fc.oneof(
    fc
      .dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.double(), fc.string(), fc.boolean()))
      .map((o) => JSON.stringify(o)),
    fc.array(fc.integer()).map((a) => JSON.stringify(a)),
  ),
  fc.constantFrom(' {}', '"x"', '5', 'null', '{bad', '', '{"a":1.50}'),
);
const contentType = w(
  fc.constant('application/json'),
  fc.constantFrom('application/json; charset=utf-8', 'text/plain'),
);
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 10 });

const attributes = fc.record({
  specversion: w(fc.constant('1.0'), fc.constantFrom('0.3', '')),
  id: text,
  type: text,
  source,
  time: w(time, fc.constant(undefined)),
  subject: optional(text),
  extensions: fc.dictionary(extensionName, text, { maxKeys: 3 }),
  contentType: w(contentType, fc.constant(undefined)),
  declaredType: optional(contentType),
  body: jsonBody,
});

function present(entries: [string, string | undefined][]): Record<string, string> {
  return Object.fromEntries(entries.filter((e): e is [string, string] => e[1] !== undefined));
}

test('dispatcher: every record the fast path takes maps to the SDK path’s HTTP request', (t) => {
  let fast = 0;
  fc.assert(
    fc.property(attributes, optional(text), (a, key) => {
      const headers = present([
        ['content-type', a.contentType],
        ['ce_datacontenttype', a.declaredType],
        ['ce_specversion', a.specversion],
        ['ce_id', a.id],
        ['ce_type', a.type],
        ['ce_source', a.source],
        ['ce_time', a.time],
        ['ce_subject', a.subject],
        ...Object.entries(a.extensions).map(([k, v]): [string, string] => [`ce_${k}`, v]),
      ]);
      const record: SourceRecord = {
        topic: 'transactions',
        partition: 1,
        offset: '7',
        key: key === undefined ? null : Buffer.from(key),
        value: Buffer.from(a.body),
        headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
      };
      const got = kafkaBinaryToHttp(headersAsStrings(record.headers), record.key, record.value);
      if (!got) return;
      fast++;
      const sdk = recordToEvent(record, 'src');
      if (!sdk.ok) return t.fail(`fast path took a record the SDK rejects: ${sdk.reason}`);
      t.false(sdk.wrapped);
      const expected = toHttpBinary(sdk.event);
      t.deepEqual(got.headers, expected.headers);
      t.deepEqual(JSON.parse(got.body.toString()), JSON.parse(expected.body.toString()));
    }),
    { numRuns: 2000 },
  );
  t.true(fast > 100, `the fast path took only ${fast} of 2000 records`);
});

test('bridge: every request the fast path takes maps to the SDK path’s Kafka record', (t) => {
  let fast = 0;
  fc.assert(
    fc.property(attributes, (a) => {
      const headers = present([
        ['host', '127.0.0.1:8090'],
        ['content-length', String(Buffer.byteLength(a.body))],
        ['content-type', a.contentType],
        ['ce-specversion', a.specversion],
        ['ce-id', a.id],
        ['ce-type', a.type],
        ['ce-source', a.source],
        ['ce-time', a.time],
        ['ce-subject', a.subject],
        ...Object.entries(a.extensions).map(([k, v]): [string, string] => [`ce-${k}`, v]),
      ]);
      const body = Buffer.from(a.body);
      const got = httpBinaryToKafka(headers, body);
      if (!got) return;
      fast++;
      let expected: ReturnType<typeof viaSdk>;
      try {
        expected = viaSdk(headers, body, 'binary');
      } catch (err) {
        return t.fail(`fast path took a request the SDK rejects: ${(err as Error).message}`);
      }
      t.is(got.key, expected.key as string | null);
      t.deepEqual(got.headers, expected.headers);
      t.deepEqual(JSON.parse(got.value.toString()), JSON.parse(String(expected.value)));
    }),
    { numRuns: 2000 },
  );
  t.true(fast > 100, `the fast path took only ${fast} of 2000 requests`);
});

test('the attack generator’s records and the scorer’s decisions take the fast paths', (t) => {
  const m = transactionMessage(
    { transaction_id: 'tx-1', card_id: 'card 7', amount: 12.5 },
    { source: '/attack-generator' },
  );
  const headers = Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)]));
  const http = kafkaBinaryToHttp(headers, Buffer.from(String(m.key)), Buffer.from(String(m.value)));
  t.truthy(http);
  t.is(http?.headers['ce-partitionkey'], 'card%207');
  // What functions/score's sink sends (src/sink.ts).
  const decision = httpBinaryToKafka(
    {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': '0b7e1c3e-0d1f-4a53-9a51-4f7f2b1f0a11',
      'ce-source': '/score',
      'ce-type': 'dev.fraud.decision.v1',
      'ce-time': new Date().toISOString(),
      'ce-subject': 'card%207',
      'ce-partitionkey': 'card%207',
    },
    Buffer.from('{"transaction_id":"tx-1","fraud_probability":0.1}'),
  );
  t.is(decision?.key, 'card%207');
});
