// An inference worker thread: owns one ONNX session, runs whole batches so the main event loop never blocks.
import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './messages.ts';
import { openSession, type ScoringSession } from './session.ts';

if (!parentPort) throw new Error('inference worker must run in a worker thread');
const port = parentPort;

let session: ScoringSession | undefined;

const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

port.on('message', async (message: ToWorker) => {
  if (message.type === 'load') {
    try {
      session = await openSession(message);
      send({ type: 'ready' });
    } catch (err) {
      send({ type: 'load-error', message: (err as Error).message });
    }
    return;
  }
  const started = process.hrtime.bigint();
  try {
    if (!session) throw new Error('no model loaded');
    const scores = session.run(new Float32Array(message.data), message.rows);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    send({ type: 'result', id: message.id, scores: scores.buffer as ArrayBuffer, seconds }, [
      scores.buffer as ArrayBuffer,
    ]);
  } catch (err) {
    send({ type: 'run-error', id: message.id, message: (err as Error).message });
  }
});
