// The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`, proto/grpc_predict_v2.proto) on
// GRPC_PORT: health, metadata and ModelInfer with typed `contents` or `raw_input_contents`, scored by the
// same Scorer (same pool, same micro-batching) as REST. Bad input gets INVALID_ARGUMENT with the REST
// message; an unknown model NOT_FOUND; a full queue RESOURCE_EXHAUSTED; not ready UNAVAILABLE.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ScorerMetrics } from '../metrics.ts';
import {
  checkInputHeader,
  checkOutputs,
  modelMetadata,
  outputTensor,
  rawBytesPer,
  rowsFromNumbers,
  rowsFromRaw,
} from '../routes/oip-tensor.ts';
import type { Scorer, ServedModel } from '../scorer.ts';
import { ClientError } from '../validation.ts';

const protoFile = fileURLToPath(new URL('../../proto/grpc_predict_v2.proto', import.meta.url));
const healthFile = fileURLToPath(new URL('../../proto/health.proto', import.meta.url));

interface Contents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: number[];
  uint_contents?: number[];
  uint64_contents?: number[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}
interface InputTensor {
  name: string;
  datatype: string;
  shape: number[];
  contents: Contents | null;
}
interface InferRequest {
  model_name: string;
  model_version: string;
  id: string;
  inputs: InputTensor[];
  outputs: { name: string }[];
  raw_input_contents: Buffer[];
}

const CONTENTS_BY_TYPE: Record<string, keyof Contents> = {
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  FP16: 'fp32_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
};

const STATUS_BY_HTTP: Record<number, grpc.status> = {
  400: grpc.status.INVALID_ARGUMENT,
  404: grpc.status.NOT_FOUND,
  413: grpc.status.INVALID_ARGUMENT,
  429: grpc.status.RESOURCE_EXHAUSTED,
  503: grpc.status.UNAVAILABLE,
};

function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  if (err instanceof ClientError)
    return { code: STATUS_BY_HTTP[err.statusCode] ?? grpc.status.INVALID_ARGUMENT, details: err.message };
  return { code: grpc.status.INTERNAL, details: `internal error: ${(err as Error).message}` };
}

function servedModel(scorer: Scorer, name: string, version: string): ServedModel {
  const model = scorer.model;
  if (model && name !== model.card.name)
    throw new ClientError(
      404,
      `model '${name}' is not served here (this server serves '${model.card.name}')`,
    );
  if (model && version !== '' && version !== model.card.version)
    throw new ClientError(
      404,
      `model '${name}' version '${version}' is not served here (serving version '${model.card.version}')`,
    );
  return scorer.requireModel();
}

/** The one input tensor as float32 rows: raw little-endian bytes or the typed contents of its datatype. */
function inputRows(model: ServedModel, req: InferRequest, maxRows: number) {
  const inputs = req.inputs.map((i) => ({ ...i, shape: i.shape.map(Number) }));
  const rows = checkInputHeader(model, inputs, maxRows);
  const input = inputs[0] as InputTensor;
  const f = model.featureCount;
  const expected = model.card.input.name;
  const typed = input.contents
    ? Object.values(input.contents).reduce((n, v) => n + (Array.isArray(v) ? v.length : 0), 0)
    : 0;
  if (req.raw_input_contents.length > 0) {
    if (req.raw_input_contents.length !== 1)
      throw new ClientError(
        400,
        `raw_input_contents must have one entry per input (1), got ${req.raw_input_contents.length}`,
      );
    if (typed > 0)
      throw new ClientError(400, `input '${expected}' must not have both contents and raw_input_contents`);
    const bytesPer = rawBytesPer(model, input.datatype);
    const raw = req.raw_input_contents[0] as Buffer;
    if (raw.length !== rows * f * bytesPer)
      throw new ClientError(
        400,
        `raw_input_contents[0] must be ${rows * f * bytesPer} bytes for shape [${rows}, ${f}] ${input.datatype}, got ${raw.length}`,
      );
    return { rows, data: rowsFromRaw(model, raw, bytesPer, rows * f), raw: true };
  }
  const field = CONTENTS_BY_TYPE[input.datatype];
  const values = (field && (input.contents?.[field] as number[] | undefined)) || [];
  if (field && typed !== values.length)
    throw new ClientError(
      400,
      `input '${expected}' of datatype ${input.datatype} must carry its values in ${field}`,
    );
  return { rows, data: rowsFromNumbers(model, input.datatype, values.map(Number), rows), raw: false };
}

export interface GrpcServer {
  port: number;
  /** Stops taking calls and waits for the ones in flight (force-closes after `graceMs`). */
  close(graceMs: number): Promise<void>;
}

export async function startGrpcServer(options: {
  scorer: Scorer;
  metrics: ScorerMetrics;
  host: string;
  port: number;
  maxRequestRows: number;
  serverVersion: string;
}): Promise<GrpcServer> {
  const { scorer, metrics } = options;
  const definition = protoLoader.loadSync([protoFile, healthFile], {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    inference: { GRPCInferenceService: { service: grpc.ServiceDefinition } };
    grpc: { health: { v1: { Health: { service: grpc.ServiceDefinition } } } };
  };
  type Call<T> = grpc.ServerUnaryCall<T, unknown>;
  type Done = grpc.sendUnaryData<unknown>;
  const unary =
    <T>(fn: (request: T) => unknown | Promise<unknown>) =>
    (call: Call<T>, callback: Done) => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then(
          (reply) => callback(null, reply),
          (err) => callback(toServiceError(err)),
        );
    };
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  // Kubernetes' grpc probe: SERVING once the model is loaded and warmed (the whole server, service "").
  server.addService(loaded.grpc.health.v1.Health.service, {
    Check: unary((req: { service: string }) => {
      if (req.service !== '' && req.service !== 'inference.GRPCInferenceService')
        throw new ClientError(404, `unknown service '${req.service}'`);
      return { status: scorer.isReady() ? 'SERVING' : 'NOT_SERVING' };
    }),
  });
  server.addService(loaded.inference.GRPCInferenceService.service, {
    ServerLive: unary(() => ({ live: true })),
    ServerReady: unary(() => ({ ready: scorer.isReady() })),
    ServerMetadata: unary(() => ({ name: 'fraud-scorer', version: options.serverVersion, extensions: [] })),
    ModelReady: unary((req: { name: string; version: string }) => {
      const model = scorer.model;
      if (model && req.name !== model.card.name)
        throw new ClientError(404, `model '${req.name}' is not served here`);
      return { ready: scorer.isReady() };
    }),
    ModelMetadata: unary((req: { name: string; version: string }) => {
      return modelMetadata(servedModel(scorer, req.name, req.version));
    }),
    ModelInfer: (call: Call<InferRequest>, callback: Done) => {
      const started = process.hrtime.bigint();
      const observe = (outcome: 'ok' | 'invalid' | 'rejected' | 'not_ready' | 'error') =>
        metrics.observeRequest('grpc_infer', outcome, Number(process.hrtime.bigint() - started) / 1e9);
      const req = call.request;
      Promise.resolve()
        .then(async () => {
          const model = servedModel(scorer, req.model_name, req.model_version);
          const names = checkOutputs(model, req.outputs);
          const { rows, data, raw } = inputRows(model, req, options.maxRequestRows);
          const scores = await scorer.scoreRows(data, rows);
          metrics.rows.inc({ route: 'grpc_infer' }, rows);
          const tensors = names.map((name) => outputTensor(model, name, scores));
          // Raw in, raw out (as Triton answers); typed contents otherwise (as KServe answers).
          return {
            model_name: model.card.name,
            model_version: model.card.version,
            id: req.id,
            outputs: tensors.map((t) => ({
              name: t.name,
              datatype: t.datatype,
              shape: t.shape,
              ...(raw
                ? {}
                : {
                    contents:
                      t.datatype === 'FP32' ? { fp32_contents: t.values } : { int64_contents: t.values },
                  }),
            })),
            raw_output_contents: raw ? tensors.map((t) => t.bytes()) : [],
          };
        })
        .then(
          (reply) => {
            observe('ok');
            callback(null, reply);
          },
          (err) => {
            const status = err instanceof ClientError ? err.statusCode : 500;
            observe(
              status === 429 ? 'rejected' : status === 503 ? 'not_ready' : status < 500 ? 'invalid' : 'error',
            );
            callback(toServiceError(err));
          },
        );
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
