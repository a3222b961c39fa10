// The gRPC Open Inference Protocol server in process (the same Scorer and pool as REST), called with a
// generic @grpc/grpc-js client built from the repo's .proto: answers equal REST's, bad input is
// INVALID_ARGUMENT with REST's message, and 2,000 arbitrary ModelInfer requests never get INTERNAL.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import test from 'ava';
import fc from 'fast-check';
import { type GrpcServer, startGrpcServer } from '../src/grpc/server.ts';
import { rowEncoder } from '../src/model/features.ts';
import { loadCard } from './helpers/model.ts';
import { type InProcess, inProcess } from './helpers/server.ts';
import { sampleTransactions } from './helpers/transactions.ts';

const card = loadCard();
const F = card.features.length;
const rows = sampleTransactions(card, 8, 11);
const encoded = new Float32Array(rows.length * F);
const encode = rowEncoder(card);
for (const [i, r] of rows.entries()) encode(r as Record<string, unknown>, encoded, i * F);

let s: InProcess;
let server: GrpcServer;
// biome-ignore lint/suspicious/noExplicitAny: a generic client from the loaded proto
let client: any;

test.before(async () => {
  s = await inProcess();
  server = await startGrpcServer({
    scorer: s.scorer,
    metrics: s.metrics,
    host: '127.0.0.1',
    port: 0,
    maxRequestRows: 1000,
    serverVersion: 'test',
  });
  const def = protoLoader.loadSync(new URL('../proto/grpc_predict_v2.proto', import.meta.url).pathname, {
    keepCase: true,
    longs: Number,
    defaults: true,
  });
  // biome-ignore lint/suspicious/noExplicitAny: generated at run time
  const pkg = grpc.loadPackageDefinition(def) as any;
  client = new pkg.inference.GRPCInferenceService(
    `127.0.0.1:${server.port}`,
    grpc.credentials.createInsecure(),
  );
});
test.after.always(async () => {
  client?.close();
  await server?.close(1000);
  await s?.close();
});

const call = (method: string, request: unknown) =>
  new Promise<{ err: grpc.ServiceError | null; reply: Record<string, unknown> }>((resolve) =>
    client[method](request, (err: grpc.ServiceError | null, reply: Record<string, unknown>) =>
      resolve({ err, reply }),
    ),
  );

const inferRequest = (over: Record<string, unknown> = {}, input: Record<string, unknown> = {}) => ({
  model_name: card.name,
  id: 'r1',
  inputs: [
    {
      name: card.input.name,
      datatype: 'FP32',
      shape: [rows.length, F],
      contents: { fp32_contents: Array.from(encoded) },
      ...input,
    },
  ],
  ...over,
});

test('health and metadata', async (t) => {
  t.true((await call('ServerLive', {})).reply.live as boolean);
  t.true((await call('ServerReady', {})).reply.ready as boolean);
  t.true((await call('ModelReady', { name: card.name })).reply.ready as boolean);
  const meta = (await call('ModelMetadata', { name: card.name })).reply as { inputs: { shape: number[] }[] };
  t.deepEqual(meta.inputs[0]?.shape, [-1, F]);
  t.is((await call('ModelMetadata', { name: 'other' })).err?.code, grpc.status.NOT_FOUND);
});

test('typed contents and raw_input_contents give the scores REST gives', async (t) => {
  const rest = await s.app.inject({
    method: 'POST',
    url: `/v2/models/${card.name}/infer`,
    payload: {
      inputs: [
        { name: card.input.name, datatype: 'FP32', shape: [rows.length, F], data: Array.from(encoded) },
      ],
    },
  });
  const restP = rest.json().outputs[0].data as number[];
  const typed = await call('ModelInfer', inferRequest());
  t.is(typed.err, null);
  const out = typed.reply.outputs as { name: string; contents: { fp32_contents: number[] } }[];
  t.is(out[0]?.name, card.outputs.probabilities);
  t.deepEqual(out[0]?.contents.fp32_contents, restP);
  const raw = await call('ModelInfer', {
    ...inferRequest({}, { contents: undefined }),
    raw_input_contents: [Buffer.from(encoded.buffer)],
  });
  t.is(raw.err, null);
  const bytes = (raw.reply.raw_output_contents as Buffer[])[0] as Buffer;
  const p = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  t.deepEqual(Array.from(p), restP);
});

test('bad input: INVALID_ARGUMENT with the REST message', async (t) => {
  const negative = Array.from(encoded);
  negative[0] = -5;
  const cases: [unknown, RegExp][] = [
    [inferRequest({}, { name: 'x' }), /unexpected inference input 'x' \(model expects 'input'\)/],
    [inferRequest({}, { shape: [rows.length, F + 1] }), /must have shape \[N, \d+\]/],
    [
      inferRequest({}, { contents: { fp32_contents: negative } }),
      /inputs\[0\]\.data\[0\] \(row 0, feature amount\) must be >= 0/,
    ],
    [inferRequest({}, { datatype: 'BYTES' }), /datatype must be numeric/],
    [
      inferRequest({}, { contents: { fp64_contents: Array.from(encoded) } }),
      /must carry its values in fp32_contents/,
    ],
    [inferRequest({ outputs: [{ name: 'scores' }] }), /unexpected inference output 'scores'/],
    [
      { ...inferRequest({}, { contents: undefined }), raw_input_contents: [Buffer.alloc(3)] },
      /raw_input_contents\[0\] must be \d+ bytes/,
    ],
  ];
  for (const [request, message] of cases) {
    const { err } = await call('ModelInfer', request);
    t.is(err?.code, grpc.status.INVALID_ARGUMENT, String(message));
    t.regex(err?.details ?? '', message);
  }
});

test('2,000 arbitrary ModelInfer requests: OK, INVALID_ARGUMENT or NOT_FOUND, never INTERNAL', async (t) => {
  const tensor = fc.record({
    name: fc.oneof(fc.constant(card.input.name), fc.string()),
    datatype: fc.constantFrom('FP32', 'FP64', 'INT64', 'BOOL', 'BYTES', 'UINT8', 'FP16', 'nope'),
    shape: fc.array(fc.integer({ min: -2, max: 2000 }), { maxLength: 4 }),
    contents: fc.record(
      {
        fp32_contents: fc.array(fc.float(), { maxLength: 40 }),
        int64_contents: fc.array(fc.integer(), { maxLength: 40 }),
        bool_contents: fc.array(fc.boolean(), { maxLength: 4 }),
      },
      { requiredKeys: [] },
    ),
  });
  const request = fc.record(
    {
      model_name: fc.oneof(fc.constant(card.name), fc.string()),
      inputs: fc.array(tensor, { maxLength: 3 }),
      outputs: fc.array(fc.record({ name: fc.string() }), { maxLength: 2 }),
      raw_input_contents: fc.array(
        fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
        { maxLength: 2 },
      ),
    },
    { requiredKeys: ['inputs'] },
  );
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const { err } = await call('ModelInfer', r);
      return err === null || err.code === grpc.status.INVALID_ARGUMENT || err.code === grpc.status.NOT_FOUND;
    }),
    { numRuns: 2000 },
  );
  t.true((await call('ServerLive', {})).reply.live as boolean);
});

test('grpc.health.v1.Health/Check (the Kubernetes grpc probe): SERVING when ready', async (t) => {
  const def = protoLoader.loadSync(new URL('../proto/health.proto', import.meta.url).pathname, {
    keepCase: true,
    enums: String,
  });
  // biome-ignore lint/suspicious/noExplicitAny: generated at run time
  const pkg = grpc.loadPackageDefinition(def) as any;
  const health = new pkg.grpc.health.v1.Health(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  const check = (service: string) =>
    new Promise<{ err: grpc.ServiceError | null; reply: { status: string } }>((resolve) =>
      health.Check({ service }, (err: grpc.ServiceError | null, reply: { status: string }) =>
        resolve({ err, reply }),
      ),
    );
  t.is((await check('')).reply.status, 'SERVING');
  t.is((await check('nope')).err?.code, grpc.status.NOT_FOUND);
  health.close();
});
