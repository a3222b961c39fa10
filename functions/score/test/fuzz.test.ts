// Property-based robustness over real HTTP against the real server process: at least 10,000 malformed
// requests per scoring endpoint. Every one must get a 4xx with an {"error"} body naming the problem; never
// a 5xx; the process must stay alive and its memory stable.
import test from 'ava';
import fc from 'fast-check';
import type { Feature } from '../src/model/card.ts';
import { loadCard } from './helpers/model.ts';
import { metricValue, type Spawned, spawnScorer } from './helpers/server.ts';
import { transactionArb } from './helpers/transactions.ts';

const RUNS = 10_000;
const card = loadCard();
const F = card.features.length;
const featureNames = card.features.map((f) => f.name);
let s: Spawned;

test.before(async () => {
  s = await spawnScorer();
});
test.after.always(async () => {
  await s?.stop();
});

async function rss(): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  return metricValue(text, 'process_resident_memory_bytes') ?? Number.NaN;
}

interface Req {
  path: string;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

async function send(r: Req): Promise<{ status: number; body: string }> {
  const res = await fetch(s.url + r.path, { method: 'POST', headers: r.headers, body: r.body });
  return { status: res.status, body: await res.text() };
}

/** Runs the property over RUNS malformed requests and checks liveness and memory around it. */
async function fuzz(t: import('ava').ExecutionContext, arb: fc.Arbitrary<Req>, seed: number) {
  // Warm up the allocator first so the memory check compares steady states.
  for (let i = 0; i < 200; i++) await send(fc.sample(arb, { numRuns: 1, seed: seed + i })[0] as Req);
  const before = await rss();
  let count = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (r) => {
      count++;
      const res = await send(r);
      if (res.status < 400 || res.status >= 500)
        throw new Error(`got ${res.status} for ${String(r.body).slice(0, 300)}: ${res.body.slice(0, 300)}`);
      const parsed = JSON.parse(res.body) as { error?: unknown };
      if (typeof parsed.error !== 'string' || parsed.error.length === 0)
        throw new Error(`no error message: ${res.body}`);
    }),
    { numRuns: RUNS, seed, endOnFailure: true },
  );
  const after = await rss();
  t.is(count, RUNS);
  t.is((await fetch(`${s.url}/health/liveness`)).status, 200);
  t.is(s.process.child.exitCode, null, 'process alive');
  t.true(after - before < 64 * 1024 * 1024, `RSS grew ${((after - before) / 1e6).toFixed(1)} MB`);
  t.log(
    `${RUNS} malformed requests, all 4xx; RSS ${(before / 1e6).toFixed(0)} → ${(after / 1e6).toFixed(0)} MB`,
  );
}

/** Never a number: wrong for every feature, whatever its type. */
const junk = fc.oneof(
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e999', '', ' ', null, {}, [], [1], { $ne: 1 }),
  fc.string({ maxLength: 20 }),
);

function outOfRange(f: Feature): fc.Arbitrary<unknown> {
  if (f.type === 'category') return fc.string({ maxLength: 12 }).filter((c) => !f.categories.includes(c));
  if (f.type === 'boolean') return fc.oneof(fc.constantFrom(0, 1, 'true', 'false', null), fc.integer());
  // The filters drop -0 (and +0): JSON writes them as 0, which is in range.
  const below =
    f.minimum !== undefined && f.minimum !== null
      ? fc
          .double({ max: f.minimum, maxExcluded: true, noNaN: true, min: -1e300 })
          .filter((v) => v < (f.minimum as number))
      : fc.constant('x');
  const above =
    f.maximum !== undefined && f.maximum !== null
      ? fc
          .double({ min: f.maximum, minExcluded: true, noNaN: true, max: 1e300 })
          .filter((v) => v > (f.maximum as number))
      : fc.constant(null);
  return fc.oneof(below, above, fc.constant(1e308), fc.constant(-1e308));
}

/** An encoded (v2 tensor) value outside a feature's domain. */
function encodedOutOfRange(f: Feature): fc.Arbitrary<unknown> {
  if (f.type === 'boolean') return fc.constantFrom(2, -1, 0.5, 1e9);
  if (f.type === 'category')
    return fc.oneof(
      fc.integer({ min: f.categories.length, max: 1e9 }),
      fc.integer({ min: -1e9, max: -1 }),
      fc.constant(0.5),
    );
  return outOfRange(f);
}

/** A transaction object broken in one of several ways (always invalid for this model). */
const badTransaction: fc.Arbitrary<unknown> = fc.oneof(
  // a required feature missing
  fc.tuple(transactionArb(card), fc.constantFrom(...featureNames)).map(([tx, name]) => {
    const copy = { ...tx };
    delete copy[name];
    return copy;
  }),
  // an unknown field
  fc
    .tuple(transactionArb(card), fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }))
    .map(([tx, k, v]) => ({ ...tx, [`x_${k}`]: v })),
  // a feature of the wrong type
  fc
    .tuple(transactionArb(card), fc.constantFrom(...featureNames), junk)
    .map(([tx, name, v]) => ({ ...tx, [name]: v })),
  // a feature out of its domain
  fc
    .tuple(transactionArb(card), fc.constantFrom(...card.features))
    .chain(([tx, f]) => outOfRange(f).map((v) => ({ ...tx, [f.name]: v }))),
  // broken metadata
  fc
    .tuple(
      transactionArb(card),
      fc.oneof(
        fc.tuple(
          fc.constantFrom('transaction_id', 'card_id'),
          fc.constantFrom('', 'a b', 'x'.repeat(65), 7, null),
        ),
        fc.tuple(fc.constant('timestamp'), fc.constantFrom('', '2026-13-45', 'yesterday', 7, null)),
      ),
    )
    .map(([tx, [k, v]]) => ({ ...tx, [k]: v })),
  // not an object at all
  fc.oneof(
    fc.constant(null),
    fc.integer(),
    fc.string({ maxLength: 20 }),
    fc.constant([]),
    fc.array(fc.integer(), { minLength: 1, maxLength: 3 }),
  ),
);

/** A JSON body for /score: a broken transaction alone or inside an array of valid ones, or not JSON at all. */
const badScoreBody: fc.Arbitrary<string> = fc.oneof(
  badTransaction.map((b) => JSON.stringify(b)),
  fc
    .tuple(fc.array(transactionArb(card), { maxLength: 3 }), badTransaction)
    .map(([ok, bad]) => JSON.stringify([...ok, bad])),
  transactionArb(card).chain((tx) => {
    const text = JSON.stringify(tx);
    return fc.integer({ min: 0, max: text.length - 1 }).map((cut) => text.slice(0, cut));
  }),
  fc.string({ maxLength: 50 }).filter((x) => {
    try {
      JSON.parse(x);
      return false;
    } catch {
      return true;
    }
  }),
);

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'text/plain',
      'application/xml',
      'application/x-www-form-urlencoded',
      'application/json; charset=latin1',
    ),
  },
);

test.serial(`POST /score: ${RUNS} malformed requests → only 4xx`, async (t) => {
  const arb = fc
    .tuple(badScoreBody, contentType)
    .map(([body, type]) => ({ path: '/score', headers: { 'content-type': type }, body }));
  await fuzz(t, arb, 1);
});

const ceHeaders = {
  'ce-specversion': '1.0',
  'ce-id': 'evt-1',
  'ce-source': '/fuzz',
  'ce-type': 'dev.fraud.transaction.v1',
  'content-type': 'application/json',
};
/** Values each context attribute must reject (null = leave a required one out). */
const badAttributes: Record<string, (string | number | null)[]> = {
  specversion: ['0.3', '2.0', '', 1, null],
  id: ['', 7, null],
  source: ['', 7, null],
  type: ['com.example.other', 'dev.fraud.decision.v1', '', 7, null],
  time: ['not-a-time', '2026-13-45T00:00:00Z', '', 7],
  datacontenttype: ['text/xml', 'application/avro', '', 7],
};
const badAttribute = fc
  .constantFrom(...Object.keys(badAttributes))
  .chain((a) =>
    fc.constantFrom(...(badAttributes[a] as (string | number | null)[])).map((v) => [a, v] as const),
  );

const badCloudEvent: fc.Arbitrary<Req> = fc.oneof(
  // binary mode, broken data
  badScoreBody.map((body) => ({ path: '/', headers: ceHeaders, body })),
  // binary mode, a broken or missing attribute, valid data
  fc.tuple(transactionArb(card), badAttribute).map(([tx, [a, v]]) => {
    const headers: Record<string, string> = { ...ceHeaders };
    if (v === null) delete headers[`ce-${a}`];
    else headers[`ce-${a}`] = typeof v === 'number' ? '' : v;
    return { path: '/', headers, body: JSON.stringify(tx) };
  }),
  // structured mode: broken attribute or data
  fc
    .tuple(transactionArb(card), badTransaction, badAttribute, fc.boolean())
    .map(([tx, bad, [a, v], breakData]) => {
      const event: Record<string, unknown> = {
        specversion: '1.0',
        id: 'e',
        source: '/f',
        type: 'dev.fraud.transaction.v1',
        data: tx,
      };
      if (breakData) event.data = bad;
      else if (v === null) delete event[a];
      else event[a] = v;
      return {
        path: '/',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify(event),
      };
    }),
  // batched mode with one broken event, or not an array
  fc.tuple(fc.array(transactionArb(card), { maxLength: 3 }), badTransaction).map(([ok, bad]) => ({
    path: '/',
    headers: { 'content-type': 'application/cloudevents-batch+json' },
    body: JSON.stringify(
      [...ok, bad].map((data, i) => ({
        specversion: '1.0',
        id: `e${i}`,
        source: '/f',
        type: 'dev.fraud.transaction.v1',
        data,
      })),
    ),
  })),
  fc.jsonValue({ maxDepth: 2 }).map((v) => ({
    path: '/',
    headers: { 'content-type': 'application/cloudevents-batch+json' },
    body: JSON.stringify(Array.isArray(v) && v.length === 0 ? v : { v }),
  })),
  // no CloudEvent at all
  fc
    .jsonValue({ maxDepth: 2 })
    .map((v) => ({ path: '/', headers: { 'content-type': 'application/json' }, body: JSON.stringify(v) })),
);

test.serial(`POST / (CloudEvents): ${RUNS} malformed requests → only 4xx`, async (t) => {
  await fuzz(t, badCloudEvent, 2);
});

const goodRow = fc.constant(Array.from({ length: F }, () => 0));
const badInfer: fc.Arbitrary<Req> = fc
  .oneof(
    // wrong shape, datatype, name, or values
    fc
      .record({
        name: fc.oneof(
          { weight: 4, arbitrary: fc.constant(card.input.name) },
          { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
        ),
        shape: fc.oneof(fc.array(fc.integer({ min: -2, max: 2 * F }), { maxLength: 3 }), fc.constant([1, F])),
        datatype: fc.oneof(fc.constantFrom('FP32', 'FP64', 'INT64', 'BYTES', 'BOOL', 'fp32', 'STRING')),
        data: fc.oneof(
          fc.array(junk, { maxLength: 2 * F }),
          fc.array(fc.double(), { minLength: F, maxLength: F }),
        ),
      })
      .map((input) => ({ inputs: [input] })),
    // the right shape, one value outside its feature's domain
    fc.tuple(goodRow, fc.integer({ min: 0, max: F - 1 })).chain(([row, i]) =>
      encodedOutOfRange(card.features[i] as Feature).map((v) => {
        const data: unknown[] = [...row];
        data[i] = v;
        return { inputs: [{ name: card.input.name, shape: [1, F], datatype: 'FP32', data }] };
      }),
    ),
    // unknown outputs, extra fields, missing inputs
    fc.string({ maxLength: 8 }).map((o) => ({
      inputs: [{ name: card.input.name, shape: [1, F], datatype: 'FP32', data: Array(F).fill(0) }],
      outputs: [{ name: `o${o}` }],
    })),
    fc.jsonValue({ maxDepth: 2 }).map((v) => ({ inputs: v })),
    fc.jsonValue({ maxDepth: 2 }).map((v) => ({ input: v })),
  )
  .map((body) => ({
    path: `/v2/models/${card.name}/infer`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }));

const badBinaryInfer: fc.Arbitrary<Req> = fc
  .tuple(
    fc.integer({ min: -5, max: 400 }),
    fc.uint8Array({ maxLength: 200 }),
    fc.integer({ min: -8, max: 80 }),
  )
  .map(([headerLength, bytes, size]) => {
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: card.input.name, shape: [1, F], datatype: 'FP32', parameters: { binary_data_size: size } },
        ],
      }),
    );
    return {
      path: `/v2/models/${card.name}/infer`,
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(headerLength),
      },
      body: Buffer.concat([header, Buffer.from(bytes)]),
    };
  })
  .filter(
    (r) =>
      !(
        Number(r.headers['inference-header-content-length']) > 0 &&
        r.body.length === Number(r.headers['inference-header-content-length']) + F * 4
      ),
  );

test.serial(`POST /v2/models/{name}/infer: ${RUNS} malformed requests → only 4xx`, async (t) => {
  await fuzz(t, fc.oneof({ weight: 4, arbitrary: badInfer }, { weight: 1, arbitrary: badBinaryInfer }), 3);
});
