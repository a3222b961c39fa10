// An inference worker thread: owns one ONNX session, runs whole batches so the main event loop never blocks.
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { FromWorker, LoadMessage, ToWorker } from './messages.ts';

if (!parentPort) throw new Error('inference worker must run in a worker thread');
const port = parentPort;

let session: ort.InferenceSession | undefined;
let spec: LoadMessage | undefined;

const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function run(data: Float32Array, rows: number): Promise<Float32Array> {
  if (!session || !spec) throw new Error('no model loaded');
  const input = new ort.Tensor('float32', data, [rows, spec.featureCount]);
  const out = await session.run({ [spec.inputName]: input }, [spec.probabilitiesName]);
  const probabilities = out[spec.probabilitiesName];
  if (!probabilities) throw new Error(`model returned no ${spec.probabilitiesName} output`);
  const values = probabilities.data as Float32Array;
  const classes = values.length / rows;
  const scores = new Float32Array(rows);
  for (let r = 0; r < rows; r++) scores[r] = values[r * classes + spec.positiveIndex] as number;
  return scores;
}

port.on('message', async (message: ToWorker) => {
  if (message.type === 'load') {
    try {
      spec = message;
      session = await ort.InferenceSession.create(message.onnxPath, {
        intraOpNumThreads: message.intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
      if (!session.inputNames.includes(message.inputName))
        throw new Error(`model has inputs ${session.inputNames.join(', ')}, card says ${message.inputName}`);
      if (!session.outputNames.includes(message.probabilitiesName))
        throw new Error(
          `model has outputs ${session.outputNames.join(', ')}, card says ${message.probabilitiesName}`,
        );
      // Warm-up: the first run allocates and JIT-prepares kernels; do it before declaring ready.
      for (const rows of [1, 8]) {
        const scores = await run(new Float32Array(rows * message.featureCount), rows);
        if (scores.length !== rows || !scores.every(Number.isFinite))
          throw new Error('warm-up returned non-finite probabilities');
      }
      send({ type: 'ready' });
    } catch (err) {
      send({ type: 'load-error', message: (err as Error).message });
    }
    return;
  }
  const started = process.hrtime.bigint();
  try {
    const scores = await run(new Float32Array(message.data), message.rows);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    send({ type: 'result', id: message.id, scores: scores.buffer as ArrayBuffer, seconds }, [
      scores.buffer as ArrayBuffer,
    ]);
  } catch (err) {
    send({ type: 'run-error', id: message.id, message: (err as Error).message });
  }
});
