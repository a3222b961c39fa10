import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CanaryQueries } from './rollout.ts';

export interface Config {
  port: number;
  host: string;
  logLevel: string;
  airflowSecret: string;
  mlflowSecret: string | undefined;
  replayWindowSeconds: number;
  mlflowTrackingUri: string;
  modelName: string;
  policyFile: string;
  namespace: string;
  serviceName: string;
  prometheusUrl: string | undefined;
  queries: CanaryQueries;
  requestRetryAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  statusPollMs: number;
  /**
   * `knative` (default): a passed version gets a canary on the score Knative Service, then is promoted or
   * rolled back. `none`: there is no rollout target (no Kubernetes, e.g. the local learning drill): a passed
   * version is promoted in MLflow only (alias `champion`), and whoever serves `models:/<name>@champion`
   * loads it on its next start. Kubernetes is never contacted.
   */
  rolloutTarget: RolloutTarget;
  /** Alertmanager → retrain trigger; undefined (endpoint answers 404) unless ALERTMANAGER_BEARER_TOKEN is set. */
  alerting: AlertTriggerConfig | undefined;
}

export type RolloutTarget = 'knative' | 'none';
const ROLLOUT_TARGETS: readonly RolloutTarget[] = ['knative', 'none'];

export interface AlertTriggerConfig {
  bearerToken: string;
  airflowUrl: string;
  airflowUsername: string;
  airflowPassword: string;
  dagId: string;
  /** Alert names that start a retraining run. */
  alertNames: string[];
  /** The DAG run's conf (its params). */
  dagConf: Record<string, unknown>;
  airflowRetryAttempts: number;
}

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

// The scorer's own metrics, with the `namespace`, `service` and `revision` labels monitoring/podmonitors.yaml
// adds from the Knative pod labels.
const CANARY = 'namespace="{{namespace}}",revision="{{revision}}"';
// The other revisions of the Service (the champion during a canary): they get the same traffic stream.
const PEERS = 'namespace="{{namespace}}",service="{{service}}",revision!="{{revision}}"';
const requestRate = (selector: string) => `sum(rate(fraud_scorer_requests_total{${selector}}[1m]))`;
// A failed request is one the service failed (5xx: error, not_ready; 429: rejected — the SLO's "bad"), plus
// the canary's 4xx (invalid) in excess of the champion's share on the same traffic: a canary that rejects
// what the champion accepts (e.g. a model trained on other features) is broken, while bad input that both
// reject is not the canary's fault. Empty (no canary traffic) or NaN reads as "no data".
const canaryFailed = `(${requestRate(`${CANARY},outcome=~"error|not_ready|rejected"`)} or vector(0))`;
const canaryInvalid = `(${requestRate(`${CANARY},outcome="invalid"`)} or vector(0))`;
const peersInvalidShare = `((${requestRate(`${PEERS},outcome="invalid"`)} or vector(0)) / (${requestRate(PEERS)} > 0) or vector(0))`;
export const DEFAULT_QUERIES: CanaryQueries = {
  errorRate: `${canaryFailed} / ${requestRate(CANARY)} + clamp_min(${canaryInvalid} / ${requestRate(CANARY)} - ${peersInvalidShare}, 0)`,
  latencyP95Ms: `1000 * histogram_quantile(0.95, sum by (le) (rate(fraud_scorer_request_duration_seconds_bucket{${CANARY},outcome="ok"}[1m])))`,
  requests: `sum(increase(fraud_scorer_requests_total{${CANARY}}[1m]))`,
};

export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer in [${min}, ${max}] (got ${JSON.stringify(raw)})`);
  }
  return value;
}

function required(env: NodeJS.ProcessEnv, name: string, why: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(`${name} is required: ${why}`);
  return value;
}

function alertTrigger(env: NodeJS.ProcessEnv): AlertTriggerConfig | undefined {
  const bearerToken = env.ALERTMANAGER_BEARER_TOKEN;
  if (!bearerToken) return undefined;
  if (bearerToken.trim().length < 16)
    throw new ConfigError('ALERTMANAGER_BEARER_TOKEN must be at least 16 characters');
  const why = "ALERTMANAGER_BEARER_TOKEN is set, so alerts trigger DAG runs through Airflow's REST API";
  const airflowUrl = required(env, 'AIRFLOW_API_URL', why);
  try {
    new URL(airflowUrl);
  } catch {
    throw new ConfigError(`AIRFLOW_API_URL must be a URL (got ${JSON.stringify(airflowUrl)})`);
  }
  let dagConf: unknown = { source: 'archive' };
  if (env.RETRAIN_DAG_CONF) {
    try {
      dagConf = JSON.parse(env.RETRAIN_DAG_CONF);
    } catch {
      throw new ConfigError('RETRAIN_DAG_CONF must be a JSON object');
    }
    if (typeof dagConf !== 'object' || dagConf === null || Array.isArray(dagConf))
      throw new ConfigError('RETRAIN_DAG_CONF must be a JSON object');
  }
  const alertNames = (env.RETRAIN_ALERTS || 'FraudModelRecallDrop')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  return {
    bearerToken: bearerToken.trim(),
    airflowUrl,
    airflowUsername: required(env, 'AIRFLOW_USERNAME', why),
    airflowPassword: required(env, 'AIRFLOW_PASSWORD', why),
    dagId: env.AIRFLOW_DAG_ID || 'fraud_retrain',
    alertNames,
    dagConf: dagConf as Record<string, unknown>,
    airflowRetryAttempts: integer(env, 'AIRFLOW_RETRY_ATTEMPTS', 4, 1, 20),
  };
}

function rolloutTarget(env: NodeJS.ProcessEnv): RolloutTarget {
  const raw = env.ROLLOUT_TARGET || 'knative';
  if (!(ROLLOUT_TARGETS as readonly string[]).includes(raw))
    throw new ConfigError(
      `ROLLOUT_TARGET must be one of ${ROLLOUT_TARGETS.join(', ')} (got ${JSON.stringify(raw)})`,
    );
  return raw as RolloutTarget;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const airflowSecret = required(
    env,
    'AIRFLOW_HMAC_SECRET',
    'it verifies the signature of Airflow callbacks',
  );
  if (airflowSecret.length < 16) throw new ConfigError('AIRFLOW_HMAC_SECRET must be at least 16 characters');
  const mlflowTrackingUri = required(
    env,
    'MLFLOW_TRACKING_URI',
    'the registry holds versions, metrics and aliases',
  );
  try {
    new URL(mlflowTrackingUri);
  } catch {
    throw new ConfigError(`MLFLOW_TRACKING_URI must be a URL (got ${JSON.stringify(mlflowTrackingUri)})`);
  }
  const namespace =
    env.SCORE_NAMESPACE || (existsSync(SA_NAMESPACE) ? readFileSync(SA_NAMESPACE, 'utf8').trim() : 'default');
  return {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: env.HOST || '0.0.0.0',
    logLevel: env.LOG_LEVEL || 'info',
    airflowSecret,
    mlflowSecret: env.MLFLOW_WEBHOOK_SECRET || undefined,
    replayWindowSeconds: integer(env, 'REPLAY_WINDOW_SECONDS', 300, 1, 3600),
    mlflowTrackingUri,
    modelName: env.MODEL_NAME || 'fraud-detector',
    policyFile: env.POLICY_FILE || path.join(packageRoot, 'gate.json'),
    namespace,
    serviceName: env.SCORE_SERVICE || 'score',
    prometheusUrl: env.PROMETHEUS_URL || undefined,
    queries: {
      errorRate: env.CANARY_ERROR_RATE_QUERY || DEFAULT_QUERIES.errorRate,
      latencyP95Ms: env.CANARY_LATENCY_P95_QUERY || DEFAULT_QUERIES.latencyP95Ms,
      requests: env.CANARY_REQUESTS_QUERY || DEFAULT_QUERIES.requests,
    },
    requestRetryAttempts: integer(env, 'REQUEST_RETRY_ATTEMPTS', 4, 1, 20),
    retryBaseMs: integer(env, 'RETRY_BASE_MS', 250, 1, 60_000),
    retryMaxMs: integer(env, 'RETRY_MAX_MS', 10_000, 1, 600_000),
    statusPollMs: integer(env, 'STATUS_POLL_MS', 1000, 10, 60_000),
    rolloutTarget: rolloutTarget(env),
    alerting: alertTrigger(env),
  };
}
