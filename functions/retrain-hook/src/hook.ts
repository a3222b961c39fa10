import { KubeConfig } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import type { Config } from './config.ts';
import { ScoreServiceClient } from './knative.ts';
import { createMetrics } from './metrics.ts';
import { MlflowRegistry } from './mlflow.ts';
import { loadPolicy } from './policy.ts';
import { PrometheusClient } from './prometheus.ts';
import { RolloutManager } from './rollout.ts';
import { TrainingHistory } from './training-history.ts';

export interface Hook {
  app: FastifyInstance;
  rollout: RolloutManager;
  history: TrainingHistory;
  /** Listens, then recovers any interrupted rollout in the background. Returns the bound URL. */
  start(): Promise<string>;
  stop(): Promise<void>;
}

/** Wires config to the parts; the one place that knows about all of them. */
export function createHook(config: Config, kubeConfig?: KubeConfig): Hook {
  const policy = loadPolicy(config.policyFile);
  // ROLLOUT_TARGET=none: no Knative Service, so no Kubernetes client at all (promotion in MLflow only).
  let service: ScoreServiceClient | undefined;
  if (config.rolloutTarget === 'knative') {
    const kc = kubeConfig ?? new KubeConfig();
    if (!kubeConfig) kc.loadFromDefault(); // in-cluster service account, or KUBECONFIG
    service = new ScoreServiceClient(kc, config.namespace, config.serviceName);
  }
  const metrics = createMetrics();
  // The rollout logs through fastify's logger, which exists only once the app is built.
  let app: FastifyInstance | undefined;
  const log = {
    info: (obj: object, msg?: string) => app?.log.info(obj, msg),
    warn: (obj: object, msg?: string) => app?.log.warn(obj, msg),
    error: (obj: object, msg?: string) => app?.log.error(obj, msg),
  };
  const registry = new MlflowRegistry(config.mlflowTrackingUri);
  const history = new TrainingHistory({
    registry,
    modelName: config.modelName,
    metrics,
    log,
    retry: { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs },
  });
  const rollout = new RolloutManager({
    registry,
    service,
    prometheus: config.prometheusUrl ? new PrometheusClient(config.prometheusUrl) : undefined,
    policy,
    modelName: config.modelName,
    queries: config.queries,
    metrics,
    log,
    requestRetry: {
      attempts: config.requestRetryAttempts,
      baseMs: config.retryBaseMs,
      maxMs: config.retryMaxMs,
    },
    backgroundRetry: { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs },
    statusPollMs: config.statusPollMs,
  });
  const built = buildApp({
    rollout,
    metrics,
    history,
    modelName: config.modelName,
    airflowSecret: config.airflowSecret,
    mlflowSecret: config.mlflowSecret,
    replayWindowSeconds: config.replayWindowSeconds,
    logLevel: config.logLevel,
    alerting: config.alerting,
    retry: { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs },
  });
  app = built;
  return {
    app: built,
    rollout,
    history,
    async start() {
      const url = await built.listen({ port: config.port, host: config.host });
      void rollout
        .recover()
        .catch((error) => built.log.error({ err: (error as Error).message }, 'recovery stopped'));
      // Not awaited: readiness never waits for MLflow; the gauges stay 0 until it answers.
      void history
        .restore()
        .catch((error) => built.log.warn({ err: (error as Error).message }, 'training history not restored'));
      return url;
    },
    async stop() {
      history.close();
      await rollout.close();
      await built.close();
    },
  };
}
