// The last training success and failure, kept where the hook keeps all its memory: the MLflow registry.
// A success is a registered model version (Airflow registers one per successful run), so its registration
// time is the success time. A failure leaves nothing in MLflow by itself, so the hook writes it as tags of
// the registered model when Airflow reports it. On start the two gauges are raised to what MLflow holds,
// so FraudRetrainingFailed neither clears nor appears because the hook restarted.
import type { HookMetrics } from './metrics.ts';
import type { MlflowRegistry } from './mlflow.ts';
import { countAndLogRetries, withRetry } from './retry.ts';
import type { Logger } from './rollout.ts';

/** Registered-model tags: the failure time (Unix seconds) and which Airflow run and task failed. */
export const FAILURE_AT_TAG = 'training.last_failure_at';
export const FAILURE_RUN_TAG = 'training.last_failure_run';

export interface TrainingHistoryOptions {
  registry: Pick<MlflowRegistry, 'getModelTags' | 'setModelTags' | 'listVersions'>;
  modelName: string;
  metrics: Pick<HookMetrics, 'lastTrainingSuccess' | 'lastTrainingFailure' | 'dependencyErrors'>;
  log: Logger;
  /** Backoff while MLflow is unavailable; retries go on until close(). */
  retry: { baseMs: number; maxMs: number };
}

export interface TrainingTimes {
  successAt: number | undefined;
  failureAt: number | undefined;
}

export class TrainingHistory {
  private readonly abort = new AbortController();
  // Failures are written one after another, so an older one never overwrites a newer one.
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly o: TrainingHistoryOptions) {}

  /** What MLflow holds now; throws UnavailableError while MLflow is down. */
  async read(): Promise<TrainingTimes> {
    const tags = await this.o.registry.getModelTags(this.o.modelName);
    if (!tags) return { successAt: undefined, failureAt: undefined }; // nothing registered, nothing failed
    const failureAt = Number(tags[FAILURE_AT_TAG]);
    const registered = (await this.o.registry.listVersions(this.o.modelName))
      .map((v) => v.createdAtMs)
      .filter((ms): ms is number => ms !== undefined && ms > 0);
    return {
      successAt: registered.length ? Math.max(...registered) / 1000 : undefined,
      failureAt: Number.isFinite(failureAt) && failureAt > 0 ? failureAt : undefined,
    };
  }

  /**
   * Raises the gauges to what MLflow holds, retrying in the background until MLflow answers (or close()).
   * Never lowers a gauge: an event that arrived meanwhile is newer than anything restored.
   */
  async restore(): Promise<TrainingTimes> {
    const times = await withRetry(() => this.read(), {
      attempts: Number.POSITIVE_INFINITY,
      ...this.o.retry,
      signal: this.abort.signal,
      onRetry: countAndLogRetries(
        this.o.metrics.dependencyErrors,
        this.o.log,
        'training history: MLflow unavailable, retrying',
      ),
    });
    await raise(this.o.metrics.lastTrainingSuccess, times.successAt);
    await raise(this.o.metrics.lastTrainingFailure, times.failureAt);
    this.o.log.info({ ...times }, 'training history restored from MLflow');
    return times;
  }

  /**
   * Airflow reported a failed run: the gauge at once, MLflow in the background (retried until it answers
   * or the hook stops). Never rejects: resolves once the failure is stored or given up (logged).
   */
  recordFailure(atSeconds: number, run: string): Promise<void> {
    this.o.metrics.lastTrainingFailure.set(atSeconds);
    const tags = { [FAILURE_RUN_TAG]: run.slice(0, 500), [FAILURE_AT_TAG]: String(atSeconds) };
    const write = this.writes.then(() =>
      withRetry(() => this.o.registry.setModelTags(this.o.modelName, tags), {
        attempts: Number.POSITIVE_INFINITY,
        ...this.o.retry,
        signal: this.abort.signal,
        onRetry: (e) => this.o.metrics.dependencyErrors.inc({ dependency: e.dependency }),
      }),
    );
    this.writes = write.catch((error) => {
      this.o.log.error({ err: (error as Error).message, tags }, 'training failure not stored in MLflow');
    });
    return this.writes;
  }

  /** Stops the retries (restore() and pending writes reject). */
  close(): void {
    this.abort.abort(new Error('retrain-hook shutting down'));
  }
}

type Gauge = HookMetrics['lastTrainingSuccess'];

async function raise(gauge: Gauge, value: number | undefined): Promise<void> {
  if (value === undefined) return;
  const current = (await gauge.get()).values[0]?.value ?? 0;
  if (value > current) gauge.set(value);
}
