// The scoring core shared by every interface: loads the configured model (retrying transient failures,
// never falling back to another model), compiles the card's validators, encodes rows and turns
// probabilities into decisions.
import type { Worker } from 'node:worker_threads';
import type { ScorerConfig } from './config.ts';
import { InferencePool, QueueFullError } from './inference/pool.ts';
import type { ScorerMetrics } from './metrics.ts';
import type { ModelCard } from './model/card.ts';
import { type RowEncoder, rowEncoder, type Transaction, transactionSchema } from './model/features.ts';
import { type LoadedModel, loadModel, PermanentModelError } from './model/source.ts';
import { ClientError, compileValidator, type Validator } from './validation.ts';

export interface Decision {
  transaction_id: string | null;
  card_id: string | null;
  fraud_probability: number;
  decision: 'fraud' | 'legit';
  threshold: number;
  model: { name: string; version: string; sha256: string };
}

export interface ServedModel {
  card: ModelCard;
  sha256: string;
  origin: string;
  threshold: number;
  featureCount: number;
  encode: RowEncoder;
  validateTransaction: Validator<Transaction>;
  /** One transaction or a non-empty array of at most maxRequestRows. */
  validateScoreBody: Validator<Transaction | Transaction[]>;
  info: Decision['model'];
}

export class Scorer {
  model: ServedModel | undefined;
  ready = false;
  /** Set on SIGTERM: probes say not ready while in-flight requests still finish. */
  draining = false;
  reason = 'starting';
  readonly pool: InferencePool;
  private stopped = false;

  constructor(
    readonly config: ScorerConfig,
    private readonly metrics: ScorerMetrics,
    private readonly log: (message: string) => void = () => undefined,
    prespawned: Worker[] = [],
  ) {
    this.pool = new InferencePool({
      prespawned,
      workers: config.inferenceWorkers,
      inline: config.inferenceMode === 'inline',
      maxBatchSize: config.maxBatchSize,
      maxBatchWaitUs: config.maxBatchWaitUs,
      maxQueue: config.maxQueue,
      onBatch: (rows, seconds) => {
        metrics.batchSize.observe(rows);
        metrics.inferenceDuration.observe(seconds);
      },
      onQueueDepth: (rows) => metrics.queueDepth.set(rows),
    });
  }

  /** Loads until it works or fails for good; transient errors (MLflow down) retry with backoff. */
  async load(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      this.reason = `loading model ${this.config.modelUri}${attempt ? ` (attempt ${attempt + 1})` : ''}`;
      try {
        const loaded = await loadModel(
          this.config.modelUri,
          this.config.mlflowTrackingUri,
          this.config.modelCacheDir,
        );
        await this.serve(loaded);
        return;
      } catch (err) {
        const message = (err as Error).message;
        if (err instanceof PermanentModelError || attempt >= 1000) {
          this.reason = `model not loaded: ${message}`;
          this.log(this.reason);
          return;
        }
        this.reason = `model not loaded yet (will retry): ${message}`;
        this.log(this.reason);
        await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 30_000)).unref?.());
      }
    }
  }

  private async serve(loaded: LoadedModel): Promise<void> {
    const { card } = loaded;
    const threshold = this.config.decisionThreshold ?? card.threshold;
    const txSchema = transactionSchema(card);
    const model: ServedModel = {
      card,
      sha256: loaded.sha256,
      origin: loaded.origin,
      threshold,
      featureCount: card.features.length,
      encode: rowEncoder(card),
      validateTransaction: compileValidator<Transaction>(txSchema),
      validateScoreBody: compileValidator<Transaction | Transaction[]>({
        if: { type: 'array' },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
        then: { type: 'array', minItems: 1, maxItems: this.config.maxRequestRows, items: txSchema },
        else: txSchema,
      }),
      info: { name: card.name, version: card.version, sha256: loaded.sha256 },
    };
    this.reason = `warming up ${loaded.origin}`;
    try {
      await this.pool.start({
        onnxPath: loaded.onnxPath,
        inputName: card.input.name,
        probabilitiesName: card.outputs.probabilities,
        positiveIndex: card.outputs.positive_index,
        featureCount: model.featureCount,
        intraOpThreads: 1,
      });
    } catch (err) {
      throw new PermanentModelError((err as Error).message);
    }
    this.model = model;
    this.metrics.setModel(card, loaded.sha256, threshold);
    this.metrics.ready.set(1);
    this.ready = true;
    this.reason = `serving ${card.name} version ${card.version} from ${loaded.origin}`;
    this.log(this.reason);
  }

  /** What the readiness probes report. */
  isReady(): boolean {
    return this.ready && !this.draining;
  }

  /** The served model, or a 503 naming why there is none. */
  requireModel(): ServedModel {
    if (this.ready && this.model) return this.model;
    throw new ClientError(503, `not ready: ${this.reason}`, { 'retry-after': '1' });
  }

  /** Probabilities for encoded rows; a full queue becomes a 429 with Retry-After. */
  async scoreRows(data: Float32Array, rows: number): Promise<Float32Array> {
    const model = this.requireModel();
    let scores: Float32Array;
    try {
      scores = await this.pool.score(data, rows);
    } catch (err) {
      if (err instanceof QueueFullError)
        throw new ClientError(429, (err as Error).message, { 'retry-after': '1' });
      throw err;
    }
    this.metrics.observeScores(scores, model.threshold);
    return scores;
  }

  /** Validated transactions in, decisions out (same order). */
  async decide(
    transactions: Transaction[],
    fallbacks?: { id?: string; subject?: string }[],
  ): Promise<Decision[]> {
    const model = this.requireModel();
    const f = model.featureCount;
    const data = new Float32Array(transactions.length * f);
    for (let i = 0; i < transactions.length; i++) model.encode(transactions[i] as Transaction, data, i * f);
    const scores = await this.scoreRows(data, transactions.length);
    return transactions.map((tx, i) => {
      const p = scores[i] as number;
      return {
        transaction_id: tx.transaction_id ?? fallbacks?.[i]?.id ?? null,
        card_id: tx.card_id ?? fallbacks?.[i]?.subject ?? null,
        fraud_probability: p,
        decision: p >= model.threshold ? 'fraud' : 'legit',
        threshold: model.threshold,
        model: model.info,
      };
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.ready = false;
    this.metrics.ready.set(0);
    await this.pool.close();
  }
}
