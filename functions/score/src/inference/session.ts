// One ONNX session with the card's input/output names: created, checked and warmed the same way whether it
// lives in a worker thread (worker.ts) or on the main thread (INFERENCE_MODE=inline).
import ort from 'onnxruntime-node';
import type { LoadMessage } from './messages.ts';

export interface ScoringSession {
  /** The positive-class probability of each row (row-major input, card feature order). */
  run(data: Float32Array, rows: number): Promise<Float32Array>;
}

export async function openSession(spec: Omit<LoadMessage, 'type'>): Promise<ScoringSession> {
  const session = await ort.InferenceSession.create(spec.onnxPath, {
    intraOpNumThreads: spec.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  if (!session.inputNames.includes(spec.inputName))
    throw new Error(`model has inputs ${session.inputNames.join(', ')}, card says ${spec.inputName}`);
  if (!session.outputNames.includes(spec.probabilitiesName))
    throw new Error(
      `model has outputs ${session.outputNames.join(', ')}, card says ${spec.probabilitiesName}`,
    );
  const scoring: ScoringSession = {
    async run(data, rows) {
      const input = new ort.Tensor('float32', data, [rows, spec.featureCount]);
      const out = await session.run({ [spec.inputName]: input }, [spec.probabilitiesName]);
      const probabilities = out[spec.probabilitiesName];
      if (!probabilities) throw new Error(`model returned no ${spec.probabilitiesName} output`);
      const values = probabilities.data as Float32Array;
      const classes = values.length / rows;
      const scores = new Float32Array(rows);
      for (let r = 0; r < rows; r++) scores[r] = values[r * classes + spec.positiveIndex] as number;
      return scores;
    },
  };
  // Warm-up: the first run allocates and JIT-prepares kernels; do it before declaring ready.
  for (const rows of [1, 8]) {
    const scores = await scoring.run(new Float32Array(rows * spec.featureCount), rows);
    if (scores.length !== rows || !scores.every(Number.isFinite))
      throw new Error('warm-up returned non-finite probabilities');
  }
  return scoring;
}
