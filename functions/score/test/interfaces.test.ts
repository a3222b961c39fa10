// The three interfaces in process (fastify inject) on the bundled model: shapes, CloudEvents conformance
// with the cloudevents SDK as the client, Open Inference Protocol v2 (JSON and binary tensors), errors.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CloudEvent, HTTP } from 'cloudevents';
import ort from 'onnxruntime-node';
import { rowEncoder } from '../src/model/features.ts';
import { loadCard, requireModel } from './helpers/model.ts';
import { type InProcess, inProcess, metricValue } from './helpers/server.ts';
import { sampleTransactions } from './helpers/transactions.ts';

const card = loadCard();
const txs = sampleTransactions(card, 40, 11);
const tx = txs[0] as Record<string, unknown>;
const F = card.features.length;
let s: InProcess;

/** Probabilities straight from onnxruntime on the main thread: the reference the server must agree with. */
async function reference(rows: Record<string, unknown>[]): Promise<number[]> {
  const session = await ort.InferenceSession.create(path.join(requireModel(), card.onnx.file));
  const data = new Float32Array(rows.length * F);
  const encode = rowEncoder(card);
  for (const [i, r] of rows.entries()) encode(r, data, i * F);
  const out = await session.run({ [card.input.name]: new ort.Tensor('float32', data, [rows.length, F]) });
  const p = out[card.outputs.probabilities]?.data as Float32Array;
  return rows.map((_, i) => p[i * 2 + card.outputs.positive_index] as number);
}

test.before(async () => {
  s = await inProcess();
});
test.after.always(async () => {
  await s?.close();
});

const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
  s.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });

test('POST /score: one transaction → one decision matching onnxruntime run directly', async (t) => {
  const res = await post('/score', tx);
  t.is(res.statusCode, 200, res.body);
  const d = res.json();
  const [p] = await reference([tx]);
  t.is(d.transaction_id, tx.transaction_id);
  t.is(d.card_id, tx.card_id);
  t.is(d.fraud_probability, p);
  t.is(d.threshold, card.threshold);
  t.is(d.decision, (p as number) >= card.threshold ? 'fraud' : 'legit');
  t.deepEqual(d.model, { name: card.name, version: card.version, sha256: card.onnx.sha256 });
});

test('POST /score: an array → decisions in order', async (t) => {
  const res = await post('/score', txs);
  t.is(res.statusCode, 200, res.body);
  const ds = res.json() as { transaction_id: string; fraud_probability: number }[];
  t.deepEqual(
    ds.map((d) => d.transaction_id),
    txs.map((x) => x.transaction_id),
  );
  t.deepEqual(
    ds.map((d) => d.fraud_probability),
    await reference(txs),
  );
});

test('POST /score: precise 4xx for bad input', async (t) => {
  const cases: [unknown, number, RegExp][] = [
    [{ ...tx, amount: 'NaN' }, 400, /body\/amount must be number/],
    [{ ...tx, amount: -1 }, 400, /body\/amount must be >= 0/],
    // JSON.parse turns 1e999 into Infinity: still not a number for the schema.
    [
      JSON.stringify({ ...tx, amount: 0 }).replace('"amount":0', '"amount":1e999'),
      400,
      /body\/amount must be number/,
    ],
    [{ ...tx, extra: 1 }, 400, /must NOT have additional property 'extra'/],
    [{ ...tx, merchant_category: 'casino' }, 400, /body\/merchant_category must be one of "grocery"/],
    [(({ amount: _a, ...rest }) => rest)(tx), 400, /must have required property 'amount'/],
    [{ ...tx, card_present: 'true' }, 400, /body\/card_present must be boolean/],
    [{ ...tx, timestamp: 'yesterday' }, 400, /body\/timestamp must match format "date-time"/],
    [[], 400, /body must NOT have fewer than 1 items/],
    [Array(1001).fill(tx), 400, /body must NOT have more than 1000 items/],
    [[tx, { ...tx, hour: 99 }], 400, /body\/1\/hour must be <= 23/],
    ['{"amount": 1', 400, /JSON/],
    [42, 400, /body must be object/],
  ];
  for (const [payload, status, message] of cases) {
    const res = await post('/score', payload);
    t.is(res.statusCode, status, res.body);
    t.regex(res.json().error, message);
  }
  const xml = await post('/score', '<tx/>', { 'content-type': 'application/xml' });
  t.is(xml.statusCode, 415);
  t.regex(xml.json().error, /Unsupported Media Type/i);
  const big = await post('/score', JSON.stringify({ pad: 'x'.repeat(1_100_000) }));
  t.is(big.statusCode, 413);
});

test('DECISION_THRESHOLD overrides the card threshold', async (t) => {
  const other = await inProcess({ DECISION_THRESHOLD: '0' }, true);
  try {
    const d = (await other.app.inject({ method: 'POST', url: '/score', payload: tx })).json();
    t.is(d.threshold, 0);
    t.is(d.decision, 'fraud');
  } finally {
    await other.close();
  }
});

test('CloudEvents binary mode (SDK client): binary decision event with subject and partitionkey of the input', async (t) => {
  const input = new CloudEvent({
    type: 'dev.fraud.transaction.v1',
    source: '/test',
    id: String(tx.transaction_id),
    subject: String(tx.card_id),
    partitionkey: String(tx.card_id),
    datacontenttype: 'application/json',
    data: tx,
  });
  const message = HTTP.binary(input);
  const res = await s.app.inject({
    method: 'POST',
    url: '/',
    headers: message.headers as Record<string, string>,
    payload: message.body as string,
  });
  t.is(res.statusCode, 200, res.body);
  t.falsy(String(res.headers['content-type']).includes('cloudevents'), 'binary mode, not structured');
  const reply = HTTP.toEvent({
    headers: res.headers as Record<string, string>,
    body: res.body,
  }) as CloudEvent<Record<string, unknown>>;
  t.true(reply.validate());
  t.is(reply.type, 'dev.fraud.decision.v1');
  t.is(reply.specversion, '1.0');
  t.is(reply.subject, tx.card_id as string);
  t.is(reply.partitionkey, tx.card_id);
  t.is(reply.data?.transaction_id, tx.transaction_id);
  t.is(reply.data?.fraud_probability, (await reference([tx]))[0]);
});

test('CloudEvents structured mode (SDK client), transaction id and card from the event when data lacks them', async (t) => {
  const { transaction_id: _t, card_id: _c, ...features } = tx;
  const input = new CloudEvent({
    type: 'dev.fraud.transaction.v1',
    source: '/test',
    id: 'evt-1',
    subject: 'card-7',
    time: new Date().toISOString(),
    data: features,
  });
  const message = HTTP.structured(input);
  const res = await s.app.inject({
    method: 'POST',
    url: '/',
    headers: message.headers as Record<string, string>,
    payload: message.body as string,
  });
  t.is(res.statusCode, 200, res.body);
  const reply = HTTP.toEvent({
    headers: res.headers as Record<string, string>,
    body: res.body,
  }) as CloudEvent<Record<string, unknown>>;
  t.true(reply.validate());
  t.is(reply.subject, 'card-7');
  t.is(reply.partitionkey, 'card-7');
  t.is(reply.data?.transaction_id, 'evt-1');
  t.is(reply.data?.card_id, 'card-7');
});

test('CloudEvents batched mode: a batch of decision events in order', async (t) => {
  const events = txs.slice(0, 5).map((x) =>
    new CloudEvent({
      type: 'dev.fraud.transaction.v1',
      source: '/test',
      id: String(x.transaction_id),
      subject: String(x.card_id),
      data: x,
    }).toJSON(),
  );
  const res = await post('/', events, { 'content-type': 'application/cloudevents-batch+json' });
  t.is(res.statusCode, 200, res.body);
  const replies = HTTP.toEvent({
    headers: res.headers as Record<string, string>,
    body: res.body,
  }) as CloudEvent<Record<string, unknown>>[];
  t.is(replies.length, 5);
  replies.forEach((r, i) => {
    t.true(r.validate());
    t.is(r.type, 'dev.fraud.decision.v1');
    t.is(r.subject, txs[i]?.card_id);
    t.is(r.data?.transaction_id, txs[i]?.transaction_id);
  });
});

test('CloudEvents: precise 4xx for events that are not transactions', async (t) => {
  const good = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': 'a',
    'ce-source': '/t',
    'ce-type': 'dev.fraud.transaction.v1',
  };
  const cases: [Record<string, string>, unknown, number, RegExp][] = [
    [{ ...good, 'ce-type': 'com.example.other' }, tx, 400, /ce-type must be dev.fraud.transaction.v1/],
    [{ ...good, 'ce-specversion': '0.3' }, tx, 400, /ce-specversion must be "1.0"/],
    [(({ 'ce-id': _i, ...h }) => h)(good), tx, 400, /ce-id must be a non-empty string/],
    [{ ...good, 'ce-time': 'noon' }, tx, 400, /ce-time must be an RFC 3339 timestamp/],
    [{ 'content-type': 'application/json' }, tx, 400, /not a CloudEvent/],
    [good, { ...tx, amount: 'Infinity' }, 400, /body\/amount must be number/],
    [
      { 'content-type': 'application/cloudevents+json' },
      { specversion: '1.0', id: 'x', source: '/s', type: 'dev.fraud.transaction.v1' },
      400,
      /body\/data is missing/,
    ],
    [
      { 'content-type': 'application/cloudevents+json' },
      {
        specversion: '1.0',
        id: 'x',
        source: '/s',
        type: 'dev.fraud.transaction.v1',
        datacontenttype: 'text/xml',
        data: tx,
      },
      415,
      /datacontenttype must be application\/json/,
    ],
    [{ 'content-type': 'application/cloudevents-batch+json' }, [], 400, /at least one CloudEvent/],
    [
      { 'content-type': 'application/cloudevents-batch+json' },
      [
        {
          specversion: '1.0',
          id: 'x',
          source: '/s',
          type: 'dev.fraud.transaction.v1',
          data: { ...tx, hour: -1 },
        },
      ],
      400,
      /\[0\]\.data\/hour must be >= 0/,
    ],
  ];
  for (const [headers, payload, status, message] of cases) {
    const res = await post('/', payload, headers);
    t.is(res.statusCode, status, res.body);
    t.regex(res.json().error, message);
  }
});

const row = (x: Record<string, unknown>) => {
  const out = new Float32Array(F);
  rowEncoder(card)(x, out, 0);
  return Array.from(out);
};

test('v2: server and model metadata, health, readiness', async (t) => {
  t.deepEqual((await s.app.inject('/v2/health/live')).json(), { live: true });
  t.deepEqual((await s.app.inject('/v2/health/ready')).json(), { ready: true });
  const server = (await s.app.inject('/v2')).json();
  t.is(typeof server.name, 'string');
  t.true(Array.isArray(server.extensions));
  const meta = (await s.app.inject(`/v2/models/${card.name}`)).json();
  t.deepEqual(meta.inputs, [{ name: card.input.name, datatype: 'FP32', shape: [-1, F] }]);
  t.deepEqual(
    meta.outputs.map((o: { name: string }) => o.name),
    [card.outputs.probabilities, card.outputs.label],
  );
  t.is((await s.app.inject(`/v2/models/${card.name}/ready`)).statusCode, 200);
  t.is((await s.app.inject(`/v2/models/${card.name}/versions/${card.version}/ready`)).statusCode, 200);
  const missing = await s.app.inject('/v2/models/other-model');
  t.is(missing.statusCode, 404);
  t.regex(missing.json().error, /not served here/);
});

test('v2 infer (JSON): spec-shaped request → probabilities [N,2] and label [N]', async (t) => {
  const rows = txs.slice(0, 3) as Record<string, unknown>[];
  const body = {
    id: '42',
    inputs: [{ name: card.input.name, shape: [3, F], datatype: 'FP32', data: rows.flatMap(row) }],
  };
  const res = await post(`/v2/models/${card.name}/infer`, body);
  t.is(res.statusCode, 200, res.body);
  const out = res.json();
  t.is(out.model_name, card.name);
  t.is(out.model_version, card.version);
  t.is(out.id, '42');
  const probs = out.outputs.find((o: { name: string }) => o.name === card.outputs.probabilities);
  t.deepEqual(probs.shape, [3, 2]);
  t.is(probs.datatype, 'FP32');
  const expected = await reference(rows);
  t.deepEqual(
    [0, 1, 2].map((i) => probs.data[i * 2 + 1]),
    expected,
  );
  const label = out.outputs.find((o: { name: string }) => o.name === card.outputs.label);
  t.deepEqual(label, {
    name: card.outputs.label,
    shape: [3],
    datatype: 'INT64',
    data: expected.map((p) => (p >= card.threshold ? 1 : 0)),
  });
  // Nested row-major data and a versioned path give the same answer.
  const nested = await post(`/v2/models/${card.name}/versions/${card.version}/infer`, {
    inputs: [{ name: card.input.name, shape: [3, F], datatype: 'FP32', data: rows.map(row) }],
    outputs: [{ name: card.outputs.probabilities }],
  });
  t.is(nested.statusCode, 200, nested.body);
  t.deepEqual(nested.json().outputs, [probs]);
});

test('v2 infer (binary tensor extension, as tritonclient sends by default)', async (t) => {
  const rows = txs.slice(0, 2) as Record<string, unknown>[];
  const tensor = Buffer.from(Float32Array.from(rows.flatMap(row)).buffer);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: card.input.name,
          shape: [2, F],
          datatype: 'FP32',
          parameters: { binary_data_size: tensor.length },
        },
      ],
      parameters: { binary_data_output: true },
    }),
  );
  const res = await s.app.inject({
    method: 'POST',
    url: `/v2/models/${card.name}/infer`,
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    },
    payload: Buffer.concat([header, tensor]),
  });
  t.is(res.statusCode, 200, res.body);
  const n = Number(res.headers['inference-header-content-length']);
  const raw = res.rawPayload;
  const json = JSON.parse(raw.subarray(0, n).toString());
  t.deepEqual(
    json.outputs.map((o: { parameters: { binary_data_size: number } }) => o.parameters.binary_data_size),
    [2 * 2 * 4, 2 * 8],
  );
  const probs = new Float32Array(raw.buffer.slice(raw.byteOffset + n, raw.byteOffset + n + 16));
  t.deepEqual([probs[1], probs[3]], await reference(rows));
});

test('v2 infer: unknown top-level fields are ignored (KServe SDK 0.21 sends model_name), as KServe does', async (t) => {
  const body = {
    model_name: card.name,
    model_version: card.version,
    something_new: { a: 1 },
    inputs: [{ name: card.input.name, shape: [1, F], datatype: 'FP32', data: row(tx) }],
  };
  const res = await post(`/v2/models/${card.name}/infer`, body);
  t.is(res.statusCode, 200, res.body);
  t.is(res.json().model_name, card.name);
  t.deepEqual(
    res.json().outputs.map((o: { name: string }) => o.name),
    [card.outputs.probabilities, card.outputs.label],
  );
});

test('v2 infer: errors are {"error": ...} with a 4xx naming the problem', async (t) => {
  const input = (over: Record<string, unknown>) => ({
    inputs: [{ name: card.input.name, shape: [1, F], datatype: 'FP32', data: row(tx), ...over }],
  });
  const amountIndex = card.features.findIndex((f) => f.name === 'amount');
  const negative = row(tx);
  negative[amountIndex] = -5;
  const cases: [string, unknown, number, RegExp][] = [
    ['other-model', input({}), 404, /not served here/],
    [card.name, input({ name: 'wrong' }), 400, /unexpected inference input 'wrong'/],
    [card.name, input({ shape: [1, F + 1] }), 400, /must have shape \[N, \d+\]/],
    [card.name, input({ shape: [2, F] }), 400, /data has \d+ values, shape \[2, \d+\] needs/],
    [card.name, input({ datatype: 'BYTES' }), 400, /datatype must be numeric/],
    [card.name, input({ datatype: 'FP8' }), 400, /datatype must be one of/],
    [card.name, input({ data: row(tx).map(String) }), 400, /must hold only numbers/],
    [card.name, input({ data: negative }), 400, /feature amount\) must be >= 0/],
    [card.name, { inputs: [] }, 400, /body\/inputs must NOT have fewer than 1 items/],
    [card.name, { ...input({}), outputs: [{ name: 'scores' }] }, 400, /unexpected inference output 'scores'/],
    [card.name, input({ extra: true }), 400, /inputs\/0 must NOT have additional property 'extra'/],
    [card.name, { ...input({}), outputs: [{ name: 'label', x: 1 }] }, 400, /additional property 'x'/],
    [card.name, { ...input({}), id: 7 }, 400, /body\/id must be string/],
  ];
  for (const [name, payload, status, message] of cases) {
    const res = await post(`/v2/models/${name}/infer`, payload);
    t.is(res.statusCode, status, res.body);
    t.is(res.headers['content-type'], 'application/json');
    t.deepEqual(Object.keys(res.json()), ['error']);
    t.regex(res.json().error, message);
  }
});

test('/metrics exposes every metric the README documents, with the card baseline and model info', async (t) => {
  await post('/score', tx);
  const res = await s.app.inject('/metrics');
  t.is(res.statusCode, 200);
  const text = res.body;
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const documented = [...readme.matchAll(/^\| `(fraud_scorer_[a-z_]+)`\s*\|/gm)].map((m) => m[1] as string);
  t.true(documented.length >= 14);
  for (const name of documented) t.regex(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  t.regex(text, /^process_resident_memory_bytes /m);
  t.is(
    metricValue(
      text,
      `fraud_scorer_model_info{name="${card.name}",version="${card.version}",sha256="${card.onnx.sha256}"}`,
    ),
    1,
  );
  const buckets = card.baseline?.score_buckets ?? [];
  const fractions = card.baseline?.score_cumulative_fraction ?? [];
  buckets.forEach((le, i) => {
    t.is(
      metricValue(text, `fraud_scorer_model_baseline_score_cumulative_fraction{le="${le}"}`),
      fractions[i],
    );
    t.not(metricValue(text, `fraud_scorer_score_bucket{le="${le}"}`), undefined);
  });
  t.true((metricValue(text, 'fraud_scorer_requests_total{route="score",outcome="ok"}') ?? 0) >= 1);
  t.true((metricValue(text, 'fraud_scorer_requests_total{route="score",outcome="invalid"}') ?? 0) >= 1);
});
