// Scorer configuration from the environment (names per docs/DESIGN.md). Bad values stop the process
// with a message naming the variable, instead of running with a surprise.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ScorerConfig {
  port: number;
  host: string;
  modelUri: string;
  mlflowTrackingUri: string | undefined;
  modelCacheDir: string;
  decisionThreshold: number | undefined;
  decisionSinkUrl: string | undefined;
  /** `after-reply`: publish off the request path. `before-reply`: answer only once the sink has the decision. */
  decisionSinkDelivery: 'after-reply' | 'before-reply';
  sinkMaxBuffer: number;
  sinkMaxRetries: number;
  inferenceWorkers: number;
  maxBatchSize: number;
  maxBatchWaitUs: number;
  maxQueue: number;
  maxRequestRows: number;
  bodyLimitBytes: number;
  shutdownGraceMs: number;
  logLevel: string;
}

/** The bundled model folder: `model/` next to `src/` and `dist/`, so it resolves the same compiled or not. */
export const bundledModelDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'model');

export class ConfigError extends Error {}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return value;
}

function url(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  try {
    const parsed = new URL(raw);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, '');
}

function sinkDelivery(env: NodeJS.ProcessEnv): ScorerConfig['decisionSinkDelivery'] {
  const raw = env.DECISION_SINK_DELIVERY || 'after-reply';
  if (raw !== 'after-reply' && raw !== 'before-reply')
    throw new ConfigError(
      `DECISION_SINK_DELIVERY must be after-reply or before-reply, got ${JSON.stringify(raw)}`,
    );
  return raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ScorerConfig {
  let decisionThreshold: number | undefined;
  if (env.DECISION_THRESHOLD !== undefined && env.DECISION_THRESHOLD !== '') {
    decisionThreshold = Number(env.DECISION_THRESHOLD);
    if (!(decisionThreshold >= 0 && decisionThreshold <= 1))
      throw new ConfigError(
        `DECISION_THRESHOLD must be a number from 0 to 1, got ${JSON.stringify(env.DECISION_THRESHOLD)}`,
      );
  }
  const modelUri = env.MODEL_URI || bundledModelDir;
  const mlflowTrackingUri = url(env, 'MLFLOW_TRACKING_URI');
  if (modelUri.startsWith('models:/') && !mlflowTrackingUri)
    throw new ConfigError(`MODEL_URI ${modelUri} needs MLFLOW_TRACKING_URI`);
  const maxBatchSize = int(env, 'MAX_BATCH_SIZE', 256, 1, 65_536);
  return {
    port: int(env, 'PORT', 8080, 0, 65_535),
    host: env.HOST || '0.0.0.0',
    modelUri,
    mlflowTrackingUri,
    modelCacheDir: env.MODEL_CACHE_DIR || '/tmp/model-cache',
    decisionThreshold,
    decisionSinkUrl: url(env, 'DECISION_SINK_URL'),
    decisionSinkDelivery: sinkDelivery(env),
    sinkMaxBuffer: int(env, 'SINK_MAX_BUFFER', 10_000, 1, 10_000_000),
    sinkMaxRetries: int(env, 'SINK_MAX_RETRIES', 5, 0, 100),
    inferenceWorkers: int(env, 'INFERENCE_WORKERS', 1, 1, 64),
    maxBatchSize,
    maxBatchWaitUs: int(env, 'MAX_BATCH_WAIT_US', 500, 0, 1_000_000),
    maxQueue: int(env, 'MAX_QUEUE', 4096, 1, 10_000_000),
    maxRequestRows: int(env, 'MAX_REQUEST_ROWS', 1000, 1, 1_000_000),
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 1_048_576, 1024, 1_073_741_824),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 3_600_000),
    logLevel: env.LOG_LEVEL || 'info',
  };
}
