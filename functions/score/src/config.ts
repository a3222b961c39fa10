// Scorer configuration from the environment (names per docs/DESIGN.md). Bad values stop the process
// with a message naming the variable, instead of running with a surprise.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableCpus, resolveInferenceMode } from './inference/cpus.ts';

export interface ScorerConfig {
  port: number;
  /** Open Inference Protocol over gRPC (h2c), beside the HTTP port. */
  grpcPort: number;
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
  /** Resolved: `auto` has become inline (≤ 1 CPU) or workers. */
  inferenceMode: 'inline' | 'workers';
  /** What INFERENCE_MODE said (for the startup log). */
  inferenceModeSetting: 'inline' | 'workers' | 'auto';
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

function inferenceMode(env: NodeJS.ProcessEnv): ScorerConfig['inferenceModeSetting'] {
  const raw = env.INFERENCE_MODE || 'auto';
  if (raw !== 'inline' && raw !== 'workers' && raw !== 'auto')
    throw new ConfigError(`INFERENCE_MODE must be inline, workers or auto, got ${JSON.stringify(raw)}`);
  return raw;
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
  const inferenceModeSetting = inferenceMode(env);
  // HTTP_PORT wins over PORT: in the gRPC Knative Service, Knative sets PORT to the one (h2c) container port.
  const httpPort =
    env.HTTP_PORT !== undefined && env.HTTP_PORT !== ''
      ? int(env, 'HTTP_PORT', 8080, 0, 65_535)
      : int(env, 'PORT', 8080, 0, 65_535);
  const grpcPort = int(env, 'GRPC_PORT', 8081, 0, 65_535);
  if (grpcPort !== 0 && grpcPort === httpPort)
    throw new ConfigError(
      `GRPC_PORT must differ from the HTTP port (${httpPort}); set HTTP_PORT or PORT elsewhere`,
    );
  return {
    port: httpPort,
    grpcPort,
    host: env.HOST || '0.0.0.0',
    modelUri,
    mlflowTrackingUri,
    modelCacheDir: env.MODEL_CACHE_DIR || '/tmp/model-cache',
    decisionThreshold,
    decisionSinkUrl: url(env, 'DECISION_SINK_URL'),
    decisionSinkDelivery: sinkDelivery(env),
    sinkMaxBuffer: int(env, 'SINK_MAX_BUFFER', 10_000, 1, 10_000_000),
    sinkMaxRetries: int(env, 'SINK_MAX_RETRIES', 5, 0, 100),
    inferenceModeSetting,
    inferenceMode: resolveInferenceMode(inferenceModeSetting, availableCpus()),
    inferenceWorkers: int(env, 'INFERENCE_WORKERS', 1, 1, 64),
    maxBatchSize,
    // 0: batch only what is already queued when a worker frees up; waiting for company only adds latency
    // unless the CPU is saturated, and then the queue fills on its own (BENCHMARKS.md, serving).
    maxBatchWaitUs: int(env, 'MAX_BATCH_WAIT_US', 0, 0, 1_000_000),
    maxQueue: int(env, 'MAX_QUEUE', 4096, 1, 10_000_000),
    maxRequestRows: int(env, 'MAX_REQUEST_ROWS', 1000, 1, 1_000_000),
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 1_048_576, 1024, 1_073_741_824),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 3_600_000),
    logLevel: env.LOG_LEVEL || 'info',
  };
}
