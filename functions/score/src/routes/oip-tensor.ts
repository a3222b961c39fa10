// The input tensor checks and the outputs of the Open Inference Protocol, shared by REST (v2.ts) and gRPC
// (grpc/server.ts) so both protocols accept the same tensors and answer bad ones with the same messages.
import { encodedValueProblem } from '../model/features.ts';
import type { ServedModel } from '../scorer.ts';
import { ClientError } from '../validation.ts';

export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
];
// Every datatype but BOOL and BYTES carries plain numbers.
export const NUMERIC = new Set(DATATYPES.filter((d) => d !== 'BOOL' && d !== 'BYTES'));

export interface TensorHeader {
  name: string;
  shape: number[];
  datatype: string;
}

/** Exactly one input, named as in the card, shape [N, F] with 1 ≤ N ≤ maxRows: returns N. */
export function checkInputHeader(model: ServedModel, inputs: TensorHeader[], maxRows: number): number {
  const expected = model.card.input.name;
  if (inputs.length !== 1)
    throw new ClientError(400, `expected exactly 1 input tensor ('${expected}'), got ${inputs.length}`);
  const input = inputs[0] as TensorHeader;
  if (input.name !== expected)
    throw new ClientError(400, `unexpected inference input '${input.name}' (model expects '${expected}')`);
  const f = model.featureCount;
  const [n, width] = input.shape;
  if (input.shape.length !== 2 || width !== f)
    throw new ClientError(
      400,
      `input '${expected}' must have shape [N, ${f}], got ${JSON.stringify(input.shape)}`,
    );
  if (!n || n > maxRows)
    throw new ClientError(400, `input '${expected}' must have 1 to ${maxRows} rows, got ${n}`);
  return n;
}

/** Bytes per element of a raw (binary) input, or a 400: only FP32 and FP64 are taken raw. */
export function rawBytesPer(model: ServedModel, datatype: string): 4 | 8 {
  if (datatype === 'FP32') return 4;
  if (datatype === 'FP64') return 8;
  throw new ClientError(400, `binary input '${model.card.input.name}' must be FP32 or FP64, got ${datatype}`);
}

/** Little-endian FP32/FP64 bytes (already checked to be rows × F elements) as checked float32 rows. */
export function rowsFromRaw(model: ServedModel, bytes: Buffer, bytesPer: 4 | 8, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++)
    out[i] = bytesPer === 4 ? bytes.readFloatLE(i * 4) : bytes.readDoubleLE(i * 8);
  checkValues(model, out, out);
  return out;
}

/** Numbers sent as typed values (JSON data, gRPC contents): count and domain checked, as float32 rows. */
export function rowsFromNumbers(
  model: ServedModel,
  datatype: string,
  values: ArrayLike<number>,
  rows: number,
) {
  const expected = model.card.input.name;
  const f = model.featureCount;
  if (!NUMERIC.has(datatype))
    throw new ClientError(
      400,
      `input '${expected}' datatype must be numeric (FP32 preferred), got ${datatype}`,
    );
  if (values.length !== rows * f)
    throw new ClientError(
      400,
      `input '${expected}' data has ${values.length} values, shape [${rows}, ${f}] needs ${rows * f}`,
    );
  const out = new Float32Array(rows * f);
  out.set(values);
  checkValues(model, values, out);
  return out;
}

/**
 * Every value must be in its feature's domain as sent (a tiny negative amount is still negative) and as the
 * model will see it (float32: 1e300 becomes Infinity).
 */
function checkValues(model: ServedModel, sent: ArrayLike<number>, asFloat32: Float32Array): void {
  const f = model.featureCount;
  for (let i = 0; i < asFloat32.length; i++) {
    const feature = model.card.features[i % f];
    if (!feature) continue;
    const problem =
      encodedValueProblem(feature, sent[i] as number) ??
      (Number.isFinite(asFloat32[i]) ? undefined : 'is too large for float32');
    if (problem)
      throw new ClientError(
        400,
        `inputs[0].data[${i}] (row ${Math.floor(i / f)}, feature ${feature.name}) ${problem}`,
      );
  }
}

/** The requested output names, each one the model has, or a 400. Default: both, probabilities first. */
export function checkOutputs(model: ServedModel, requested: { name: string }[] | undefined): string[] {
  const probName = model.card.outputs.probabilities;
  const labelName = model.card.outputs.label;
  if (!requested || requested.length === 0) return [probName, labelName];
  for (const o of requested)
    if (o.name !== probName && o.name !== labelName)
      throw new ClientError(
        400,
        `unexpected inference output '${o.name}' (model has '${probName}', '${labelName}')`,
      );
  return requested.map((o) => o.name);
}

export interface OutputTensor {
  name: string;
  shape: number[];
  datatype: 'FP32' | 'INT64';
  values: number[];
  bytes(): Buffer;
}

/** probabilities FP32 [N, 2] (1 − p, p) or label INT64 [N] (p ≥ threshold). */
export function outputTensor(model: ServedModel, name: string, scores: Float32Array): OutputTensor {
  const rows = scores.length;
  if (name === model.card.outputs.probabilities) {
    const values: number[] = new Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      const p = scores[r] as number;
      values[2 * r] = Math.fround(1 - p);
      values[2 * r + 1] = p;
    }
    return {
      name,
      shape: [rows, 2],
      datatype: 'FP32',
      values,
      bytes: () => Buffer.from(Float32Array.from(values).buffer),
    };
  }
  const values = Array.from(scores, (p) => (p >= model.threshold ? 1 : 0));
  return {
    name,
    shape: [rows],
    datatype: 'INT64',
    values,
    bytes: () => Buffer.from(BigInt64Array.from(values, (v) => BigInt(v)).buffer),
  };
}

/** The model metadata answer (REST `GET /v2/models/{name}`, gRPC ModelMetadata): one input, two outputs. */
export function modelMetadata(model: ServedModel) {
  return {
    name: model.card.name,
    versions: [model.card.version],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: model.card.input.name, datatype: 'FP32', shape: [-1, model.featureCount] }],
    outputs: [
      { name: model.card.outputs.probabilities, datatype: 'FP32', shape: [-1, 2] },
      { name: model.card.outputs.label, datatype: 'INT64', shape: [-1] },
    ],
  };
}
