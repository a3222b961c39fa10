// Dynamic micro-batching over a pool of inference worker threads. Requests queue rows; an idle worker takes
// as many whole requests as fit in maxBatchSize and runs them in one ONNX call. A row waits at most
// maxBatchWaitUs for company while a worker is idle; while all workers are busy the queue fills on its own.
// The queue is bounded: beyond maxQueue rows, score() throws QueueFullError (the routes answer 429).
// Inline mode (one CPU) keeps the same queue and batching but runs the session on this thread, synchronously,
// at the setImmediate that ends the poll phase which read the requests: with no second CPU a worker only adds
// two postMessage hops per batch, and onnxruntime-node's own deferral would cost another event-loop turn.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FromWorker, LoadMessage, RunMessage } from './messages.ts';
import { openSession, type ScoringSession } from './session.ts';

export class QueueFullError extends Error {
  constructor(readonly queued: number) {
    super(`scoring queue is full (${queued} rows waiting); retry later`);
  }
}

export interface PoolOptions {
  workers: number;
  /** Run the session on the calling thread instead of worker threads (`workers` is then ignored). */
  inline?: boolean;
  maxBatchSize: number;
  maxBatchWaitUs: number;
  maxQueue: number;
  /** Workers already started by prespawnWorkers(), used before spawning new ones. */
  prespawned?: Worker[];
  /** Called after each batched run, for metrics. */
  onBatch?: (rows: number, seconds: number) => void;
  onQueueDepth?: (rows: number) => void;
}

interface Pending {
  data: Float32Array;
  rows: number;
  resolve: (scores: Float32Array) => void;
  reject: (err: Error) => void;
}

const inferenceFailed = (message: string) => new Error(`inference failed: ${message}`);

/** Hands each request of a batch its own rows of the scores (in queue order), or the batch's failure. */
function settle(requests: Pending[], result: Float32Array | Error): void {
  if (result instanceof Error) {
    for (const p of requests) p.reject(result);
    return;
  }
  let offset = 0;
  for (const p of requests) {
    p.resolve(result.subarray(offset, offset + p.rows));
    offset += p.rows;
  }
}

interface Slot {
  worker?: Worker;
  session?: ScoringSession;
  busy: boolean;
  batch?: { id: number; requests: Pending[] };
}

// The worker file sits beside this one: worker.js when compiled, worker.ts in development (tests, tsx),
// where the worker thread must register tsx's loader itself: loader hooks are per thread on Node 20 and
// neither the tsx CLI nor `--import=tsx` carries them into workers.
const here = fileURLToPath(import.meta.url);
const workerFile = path.join(path.dirname(here), `worker${path.extname(here)}`);

/**
 * Starts worker threads before anything else is imported: each begins loading onnxruntime at once, in
 * parallel with the main thread loading fastify, which shortens the cold start. The pool adopts them.
 */
export function prespawnWorkers(count: number): Worker[] {
  return Array.from({ length: count }, () => {
    const worker = newWorker();
    // Until the pool adopts it: a worker that dies early (e.g. onnxruntime failed to load) is replaced.
    worker.on('error', () => deadWorkers.add(worker));
    worker.once('exit', () => deadWorkers.add(worker));
    return worker;
  });
}

const deadWorkers = new WeakSet<Worker>();

function newWorker(): Worker {
  if (!workerFile.endsWith('.ts')) return new Worker(workerFile);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(workerFile).href)}); });`;
  return new Worker(bootstrap, { eval: true });
}

export class InferencePool {
  private readonly slots: Slot[] = [];
  private queue: Pending[] = [];
  private queuedRows = 0;
  private nextId = 1;
  private waitTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private waitStarted = 0n;
  private closed = false;
  private load: LoadMessage | undefined;

  constructor(private readonly options: PoolOptions) {}

  get queueDepth(): number {
    return this.queuedRows;
  }

  /** The worker threads in use (for diagnostics and tests). */
  get workers(): readonly Worker[] {
    return this.slots.flatMap((s) => (s.worker ? [s.worker] : []));
  }

  /** Starts the workers and loads + warms the model in each; rejects with the first worker's error. */
  async start(load: Omit<LoadMessage, 'type'>): Promise<void> {
    this.load = { type: 'load', ...load };
    if (this.options.inline) {
      const session = await openSession(load);
      this.slots.push({ session, busy: false });
      this.dispatch();
      return;
    }
    await Promise.all(Array.from({ length: this.options.workers }, () => this.spawn()));
  }

  private spawn(): Promise<void> {
    const load = this.load as LoadMessage;
    let worker = this.options.prespawned?.shift();
    if (!worker || deadWorkers.has(worker)) worker = newWorker();
    const slot: Slot = { worker, busy: true };
    this.slots.push(slot);
    return new Promise<void>((resolve, reject) => {
      let loaded = false;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          loaded = true;
          slot.busy = false;
          resolve();
          this.dispatch();
        } else if (message.type === 'load-error') {
          reject(new Error(`model load failed in worker: ${message.message}`));
          void worker.terminate();
        } else this.finish(slot, message);
      });
      worker.on('error', (err) => {
        if (!loaded) reject(err);
        this.failSlot(slot, err, loaded);
      });
      worker.on('exit', (code) => {
        if (!loaded) reject(new Error(`inference worker exited with code ${code} while loading`));
        this.failSlot(slot, new Error(`inference worker exited with code ${code}`), loaded);
      });
      worker.postMessage(load);
    });
  }

  /** A worker died: fail its batch, replace it (the model is already verified, so this is just a reload). */
  private failSlot(slot: Slot, err: Error, respawn: boolean): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    for (const p of slot.batch?.requests ?? []) p.reject(err);
    slot.batch = undefined;
    if (respawn && !this.closed && this.load) void this.spawn().catch(() => undefined);
  }

  private finish(slot: Slot, message: Extract<FromWorker, { type: 'result' | 'run-error' }>): void {
    const batch = slot.batch;
    slot.batch = undefined;
    slot.busy = false;
    if (batch && batch.id === message.id) {
      if (message.type === 'run-error') settle(batch.requests, inferenceFailed(message.message));
      else {
        const scores = new Float32Array(message.scores);
        settle(batch.requests, scores);
        this.options.onBatch?.(scores.length, message.seconds);
      }
    }
    // Whatever queued while this worker was busy has waited long enough: run it now.
    this.dispatch();
  }

  /** Scores `rows` rows (row-major, card feature order). The array is handed over: do not reuse it. */
  score(data: Float32Array, rows: number): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('inference pool is closed'));
    if (this.queuedRows + rows > this.options.maxQueue && this.queuedRows > 0)
      return Promise.reject(new QueueFullError(this.queuedRows));
    return new Promise((resolve, reject) => {
      this.queue.push({ data, rows, resolve, reject });
      this.queuedRows += rows;
      this.options.onQueueDepth?.(this.queuedRows);
      if (this.queuedRows >= this.options.maxBatchSize) this.dispatch();
      else this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.waitTimer) return;
    const waitUs = this.options.maxBatchWaitUs;
    if (waitUs >= 1000) {
      this.waitTimer = setTimeout(() => this.flush(), Math.round(waitUs / 1000));
      return;
    }
    // Below a millisecond timers cannot help: poll with setImmediate, which lets pending socket reads
    // (more requests) run between checks, until the wait has passed.
    this.waitStarted = process.hrtime.bigint();
    const check = () => {
      if (Number(process.hrtime.bigint() - this.waitStarted) / 1000 >= waitUs || this.queue.length === 0) {
        this.flush();
      } else this.waitTimer = setImmediate(check);
    };
    this.waitTimer = setImmediate(check);
  }

  private flush(): void {
    this.clearWait();
    this.dispatch();
  }

  private clearWait(): void {
    if (!this.waitTimer) return;
    clearTimeout(this.waitTimer as NodeJS.Timeout);
    clearImmediate(this.waitTimer as NodeJS.Immediate);
    this.waitTimer = undefined;
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => !s.busy);
      if (!slot) return;
      const requests: Pending[] = [];
      let rows = 0;
      while (this.queue.length > 0) {
        const next = this.queue[0] as Pending;
        if (requests.length > 0 && rows + next.rows > this.options.maxBatchSize) break;
        requests.push(next);
        rows += next.rows;
        this.queue.shift();
      }
      this.queuedRows -= rows;
      this.options.onQueueDepth?.(this.queuedRows);
      let data: Float32Array;
      if (requests.length === 1) data = (requests[0] as Pending).data;
      else {
        data = new Float32Array(rows * (this.load as LoadMessage).featureCount);
        let offset = 0;
        for (const p of requests) {
          data.set(p.data, offset);
          offset += p.data.length;
        }
      }
      if (slot.session) {
        this.runInline(slot.session, requests, data, rows);
        continue;
      }
      const id = this.nextId++;
      slot.busy = true;
      slot.batch = { id, requests };
      // Transfer needs a whole buffer of our own: copy a view into a fresh one.
      const buffer =
        data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
          ? (data.buffer as ArrayBuffer)
          : (data.slice().buffer as ArrayBuffer);
      const worker = slot.worker as Worker;
      const message: RunMessage = { type: 'run', id, rows, data: buffer };
      worker.postMessage(message, [buffer]);
    }
    this.clearWait();
  }

  /** Runs the batch on this thread now, in the turn that dispatched it, and settles its requests. */
  private runInline(session: ScoringSession, requests: Pending[], data: Float32Array, rows: number): void {
    const started = process.hrtime.bigint();
    let scores: Float32Array;
    try {
      scores = session.run(data, rows);
    } catch (err) {
      settle(requests, inferenceFailed((err as Error).message));
      return;
    }
    this.options.onBatch?.(rows, Number(process.hrtime.bigint() - started) / 1e9);
    settle(requests, scores);
  }

  /** Rejects queued work and stops the workers (call after draining). */
  async close(): Promise<void> {
    this.closed = true;
    this.clearWait();
    for (const p of this.queue) p.reject(new Error('inference pool closed'));
    this.queue = [];
    this.queuedRows = 0;
    const unused = this.options.prespawned?.splice(0) ?? [];
    await Promise.all([...this.workers, ...unused].map((w) => w.terminate()));
  }
}
