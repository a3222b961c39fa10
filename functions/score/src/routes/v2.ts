// Open Inference Protocol v2 (KServe / Triton HTTP): health, metadata and infer, including the binary
// tensor data extension that stock clients (tritonclient) use by default. One input tensor [N, F] of
// encoded features in the card's order; outputs `probabilities` FP32 [N, 2] and `label` INT64 [N]
// (label = probability >= the decision threshold). Errors are {"error": "..."}.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServedModel } from '../scorer.ts';
import { ClientError, compileValidator, describeErrors } from '../validation.ts';
import type { RouteContext } from './context.ts';
import {
  checkInputHeader,
  checkOutputs,
  DATATYPES,
  modelMetadata,
  NUMERIC,
  outputTensor,
  rawBytesPer,
  rowsFromNumbers,
  rowsFromRaw,
} from './oip-tensor.ts';

const HEADER_LENGTH = 'inference-header-content-length';

interface InferInput {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: { binary_data_size?: number; [k: string]: unknown };
  data?: unknown[];
}
interface InferRequest {
  id?: string;
  parameters?: { binary_data_output?: boolean; [k: string]: unknown };
  inputs: InferInput[];
  outputs?: { name: string; parameters?: { binary_data?: boolean; [k: string]: unknown } }[];
}

const parameters = { type: 'object', maxProperties: 64 };
// Unknown top-level fields are accepted and ignored, as KServe's own server does (its Python SDK 0.21 puts
// `model_name` in the body); the inputs and outputs stay strict, so a misspelt tensor field is still a 400.
const inferRequestSchema = {
  type: 'object',
  maxProperties: 64,
  required: ['inputs'],
  properties: {
    id: { type: 'string', maxLength: 256 },
    parameters,
    inputs: {
      type: 'array',
      minItems: 1,
      maxItems: 8,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'shape', 'datatype'],
        properties: {
          name: { type: 'string', maxLength: 256 },
          shape: { type: 'array', minItems: 1, maxItems: 8, items: { type: 'integer', minimum: 0 } },
          datatype: { type: 'string', enum: DATATYPES },
          parameters: {
            ...parameters,
            properties: { binary_data_size: { type: 'integer', minimum: 0 } },
          },
          data: { type: 'array' },
        },
      },
    },
    outputs: {
      type: 'array',
      maxItems: 8,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', maxLength: 256 },
          parameters: { ...parameters, properties: { binary_data: { type: 'boolean' } } },
        },
      },
    },
  },
};
const validateInferRequest = compileValidator<InferRequest>(inferRequestSchema);

/**
 * The JSON request, or for the binary tensor extension its JSON header plus the tensor bytes after it.
 * tritonclient sends no content type at all, so bodies without one arrive as raw bytes here too.
 */
function parseBody(request: FastifyRequest): { json: unknown; binary: Buffer | undefined } {
  const headerLength = request.headers[HEADER_LENGTH];
  const body = request.body;
  const type = request.headers['content-type'];
  if (typeof body === 'string')
    throw new ClientError(415, `content type ${type} is not accepted: send application/json`);
  if (headerLength === undefined) {
    if (!Buffer.isBuffer(body)) return { json: body, binary: undefined };
    if (type !== undefined)
      throw new ClientError(
        415,
        `content type ${type} is not accepted: send application/json (or the binary tensor extension)`,
      );
    try {
      return { json: JSON.parse(body.toString('utf8')), binary: undefined };
    } catch {
      throw new ClientError(400, 'body is not valid JSON');
    }
  }
  if (!Buffer.isBuffer(body))
    throw new ClientError(
      415,
      `with ${HEADER_LENGTH} the body must be application/octet-stream (or carry no content type)`,
    );
  const n = Number(headerLength);
  if (!Number.isInteger(n) || n < 2 || n > body.length)
    throw new ClientError(
      400,
      `header ${HEADER_LENGTH} must be an integer from 2 to the body length (${body.length})`,
    );
  let json: unknown;
  try {
    json = JSON.parse(body.subarray(0, n).toString('utf8'));
  } catch {
    throw new ClientError(400, `the first ${n} bytes of the body (${HEADER_LENGTH}) are not valid JSON`);
  }
  return { json, binary: body.subarray(n) };
}

/** Flattens row-major data nested at most as deep as the shape; every element must be a JSON number. */
function flatten(data: unknown[], depth: number, out: number[], limit: number): void {
  for (const v of data) {
    if (typeof v === 'number') {
      if (out.length >= limit)
        throw new ClientError(400, `inputs[0].data has more than the ${limit} values its shape allows`);
      out.push(v);
    } else if (Array.isArray(v) && depth > 1) flatten(v, depth - 1, out, limit);
    else
      throw new ClientError(
        400,
        `inputs[0].data must hold only numbers (nested at most as deep as the shape), got ${JSON.stringify(v)?.slice(0, 40)}`,
      );
  }
}

/** The input tensor as float32 rows, after checking name, datatype, shape and every value's domain. */
function inputRows(model: ServedModel, req: InferRequest, binary: Buffer | undefined, maxRows: number) {
  const rows = checkInputHeader(model, req.inputs, maxRows);
  const input = req.inputs[0] as InferInput;
  const expected = model.card.input.name;
  const f = model.featureCount;
  const size = input.parameters?.binary_data_size;
  if (size !== undefined) {
    if (!binary)
      throw new ClientError(
        400,
        `binary_data_size given but the request has no binary part (${HEADER_LENGTH})`,
      );
    const bytesPer = rawBytesPer(model, input.datatype);
    if (size !== rows * f * bytesPer || binary.length !== size)
      throw new ClientError(
        400,
        `binary_data_size must be ${rows * f * bytesPer} bytes for shape [${rows}, ${f}] ${input.datatype}, got ${size} (binary part ${binary.length} bytes)`,
      );
    if (input.data !== undefined)
      throw new ClientError(400, `input '${expected}' must not have both data and binary_data_size`);
    return { rows, data: rowsFromRaw(model, binary, bytesPer, rows * f) };
  }
  if (binary && binary.length > 0)
    throw new ClientError(400, `binary part present but input '${expected}' has no binary_data_size`);
  if (!NUMERIC.has(input.datatype))
    throw new ClientError(
      400,
      `input '${expected}' datatype must be numeric (FP32 preferred), got ${input.datatype}`,
    );
  if (!input.data) throw new ClientError(400, `input '${expected}' has no data`);
  const values: number[] = [];
  flatten(input.data, 2, values, rows * f);
  return { rows, data: rowsFromNumbers(model, input.datatype, values, rows) };
}

function requireServedName(ctx: RouteContext, params: { name: string; version?: string }): ServedModel {
  const model = ctx.scorer.model;
  if (model && params.name !== model.card.name)
    throw new ClientError(
      404,
      `model '${params.name}' is not served here (this server serves '${model.card.name}')`,
    );
  if (model && params.version !== undefined && params.version !== model.card.version)
    throw new ClientError(
      404,
      `model '${params.name}' version '${params.version}' is not served here (serving version '${model.card.version}')`,
    );
  return ctx.scorer.requireModel();
}

export function v2Routes(app: FastifyInstance, ctx: RouteContext, serverVersion: string): void {
  app.get('/v2', async () => ({
    name: 'fraud-scorer',
    version: serverVersion,
    extensions: ['binary_tensor_data'],
  }));
  app.get('/v2/health/live', async () => ({ live: true }));
  // The spec: 200 means ready, a 4xx means not ready.
  app.get('/v2/health/ready', async (_req, reply) => {
    if (ctx.scorer.isReady()) return { ready: true };
    return reply.code(400).send({ ready: false, error: `not ready: ${ctx.scorer.reason}` });
  });

  const modelPaths = ['/v2/models/:name', '/v2/models/:name/versions/:version'];
  for (const base of modelPaths) {
    app.get(
      `${base}/ready`,
      async (request: FastifyRequest<{ Params: { name: string; version?: string } }>, reply) => {
        const model = ctx.scorer.model;
        if (model && request.params.name !== model.card.name)
          return reply.code(404).send({ error: `model '${request.params.name}' is not served here` });
        if (ctx.scorer.isReady()) return { name: request.params.name, ready: true };
        return reply
          .code(400)
          .send({ name: request.params.name, ready: false, error: `not ready: ${ctx.scorer.reason}` });
      },
    );
    app.get(base, async (request: FastifyRequest<{ Params: { name: string; version?: string } }>) => {
      return modelMetadata(requireServedName(ctx, request.params));
    });
    app.post(
      `${base}/infer`,
      { config: { metricRoute: 'v2_infer' } },
      async (
        request: FastifyRequest<{ Params: { name: string; version?: string } }>,
        reply: FastifyReply,
      ) => {
        const model = requireServedName(ctx, request.params);
        const { json, binary } = parseBody(request);
        if (!validateInferRequest(json))
          throw new ClientError(400, describeErrors(validateInferRequest.errors, 'body'));
        const req = json;
        const names = checkOutputs(model, req.outputs);
        const wanted = names.map((name) => req.outputs?.find((o) => o.name === name) ?? { name });
        const { rows, data } = inputRows(model, req, binary, ctx.config.maxRequestRows);
        const scores = await ctx.scorer.scoreRows(data, rows);
        ctx.metrics.rows.inc({ route: 'v2_infer' }, rows);

        const binaryDefault = req.parameters?.binary_data_output === true;
        const parts: Buffer[] = [];
        const outputs = wanted.map((o) => {
          const asBinary = o.parameters?.binary_data ?? binaryDefault;
          const tensor = outputTensor(model, o.name, scores);
          if (!asBinary)
            return { name: o.name, shape: tensor.shape, datatype: tensor.datatype, data: tensor.values };
          const bytes = tensor.bytes();
          parts.push(bytes);
          return {
            name: o.name,
            shape: tensor.shape,
            datatype: tensor.datatype,
            parameters: { binary_data_size: bytes.length },
          };
        });
        const response = {
          model_name: model.card.name,
          model_version: model.card.version,
          ...(req.id !== undefined ? { id: req.id } : {}),
          outputs,
        };
        if (parts.length === 0) return response;
        const header = Buffer.from(JSON.stringify(response), 'utf8');
        reply.header(HEADER_LENGTH, String(header.length));
        reply.header('content-type', 'application/octet-stream');
        return reply.send(Buffer.concat([header, ...parts]));
      },
    );
  }
}
