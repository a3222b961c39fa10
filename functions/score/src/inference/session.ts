// One ONNX session with the card's input/output names: created, checked and warmed the same way whether it
// lives in a worker thread (worker.ts) or on the main thread (INFERENCE_MODE=inline).
import { createRequire } from 'node:module';
import ort from 'onnxruntime-node';
import type { LoadMessage } from './messages.ts';

export interface ScoringSession {
  /** The positive-class probability of each row (row-major input, card feature order), computed before it
   * returns: the calling thread pays the inference, but no event-loop turn. */
  run(data: Float32Array, rows: number): Float32Array;
}

// onnxruntime-node's public InferenceSession.run defers every call to a setImmediate before running the
// native session, which is synchronous: on the main thread that costs every batch (and its replies) one more
// event-loop turn. The package's own binding module (dist/binding.js) runs the same native session without
// the deferral; its shape is checked by the tests against the pinned onnxruntime-node version.
interface NativeSession {
  loadModel(modelPath: string, options: ort.InferenceSession.SessionOptions): void;
  readonly inputMetadata: { name: string }[];
  readonly outputMetadata: { name: string }[];
  run(
    feeds: Record<string, ort.Tensor>,
    fetches: Record<string, null>,
    options: ort.InferenceSession.RunOptions,
  ): Record<string, ort.Tensor>;
}
interface NativeBinding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
}
const nativeBinding = createRequire(import.meta.url)('onnxruntime-node/dist/binding.js') as NativeBinding;

export async function openSession(spec: Omit<LoadMessage, 'type'>): Promise<ScoringSession> {
  nativeBinding.initOrt();
  const session = new nativeBinding.binding.InferenceSession();
  session.loadModel(spec.onnxPath, {
    intraOpNumThreads: spec.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const inputNames = session.inputMetadata.map((m) => m.name);
  const outputNames = session.outputMetadata.map((m) => m.name);
  if (!inputNames.includes(spec.inputName))
    throw new Error(`model has inputs ${inputNames.join(', ')}, card says ${spec.inputName}`);
  if (!outputNames.includes(spec.probabilitiesName))
    throw new Error(`model has outputs ${outputNames.join(', ')}, card says ${spec.probabilitiesName}`);
  const fetches = { [spec.probabilitiesName]: null };
  const run = (data: Float32Array, rows: number): Float32Array => {
    const input = new ort.Tensor('float32', data, [rows, spec.featureCount]);
    const out = session.run({ [spec.inputName]: input }, fetches, {});
    const probabilities = out[spec.probabilitiesName];
    if (!probabilities) throw new Error(`model returned no ${spec.probabilitiesName} output`);
    const values = probabilities.data as Float32Array;
    const classes = values.length / rows;
    const scores = new Float32Array(rows);
    for (let r = 0; r < rows; r++) scores[r] = values[r * classes + spec.positiveIndex] as number;
    return scores;
  };
  // Warm-up: the first run allocates and JIT-prepares kernels; do it before declaring ready.
  for (const rows of [1, 8]) {
    const scores = run(new Float32Array(rows * spec.featureCount), rows);
    if (scores.length !== rows || !scores.every(Number.isFinite))
      throw new Error('warm-up returned non-finite probabilities');
  }
  return { run };
}
