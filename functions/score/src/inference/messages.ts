// Messages between the pool (main thread) and an inference worker.

export interface LoadMessage {
  type: 'load';
  onnxPath: string;
  inputName: string;
  probabilitiesName: string;
  positiveIndex: number;
  featureCount: number;
  intraOpThreads: number;
}

export interface RunMessage {
  type: 'run';
  id: number;
  rows: number;
  /** rows × featureCount float32 values, transferred (not copied). */
  data: ArrayBuffer;
}

export type ToWorker = LoadMessage | RunMessage;

export type FromWorker =
  | { type: 'ready' }
  | { type: 'load-error'; message: string }
  /** scores = the positive-class probability of each row, transferred back. */
  | { type: 'result'; id: number; scores: ArrayBuffer; seconds: number }
  | { type: 'run-error'; id: number; message: string };
