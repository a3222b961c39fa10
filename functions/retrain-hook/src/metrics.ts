import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Every metric the hook exports; names are a contract with monitoring/ (see README). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fraud_retrain_' });
  const registers = [registry];
  return {
    registry,
    promotions: new Counter({
      name: 'fraud_retrain_promotions_total',
      help: 'Model versions promoted to champion and 100% of traffic',
      registers,
    }),
    rejections: new Counter({
      name: 'fraud_retrain_rejections_total',
      help: 'Model versions the promotion gate rejected',
      registers,
    }),
    rollbacks: new Counter({
      name: 'fraud_retrain_rollbacks_total',
      help: 'Canaries rolled back, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    gateDuration: new Histogram({
      name: 'fraud_retrain_gate_duration_seconds',
      help: 'Time to read a version and its run from MLflow and decide',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    rolloutDuration: new Histogram({
      name: 'fraud_retrain_rollout_duration_seconds',
      help: 'From the callback to the end of the rollout, by outcome (promoted, rolled_back)',
      labelNames: ['outcome'] as const,
      buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 3600],
      registers,
    }),
    rolloutInProgress: new Gauge({
      name: 'fraud_retrain_rollout_in_progress',
      help: '1 while a canary is being rolled out',
      registers,
    }),
    lastTrainingSuccess: new Gauge({
      name: 'fraud_retrain_last_training_success_timestamp_seconds',
      help: 'When Airflow last reported a registered model version',
      registers,
    }),
    lastTrainingFailure: new Gauge({
      name: 'fraud_retrain_last_training_failure_timestamp_seconds',
      help: 'When Airflow last reported a failed training run',
      registers,
    }),
    unauthorized: new Counter({
      name: 'fraud_retrain_unauthorized_requests_total',
      help: 'Requests refused with 401, by endpoint and reason (unsigned, malformed, stale, bad_signature)',
      labelNames: ['endpoint', 'reason'] as const,
      registers,
    }),
    events: new Counter({
      name: 'fraud_retrain_events_total',
      help: 'Signed events accepted, by endpoint (airflow, mlflow) and event type',
      labelNames: ['endpoint', 'type'] as const,
      registers,
    }),
    alertTriggers: new Counter({
      name: 'fraud_retrain_alert_triggers_total',
      help: 'Alertmanager notifications for a retraining alert, by outcome (triggered, duplicate, ignored, failed)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    dependencyErrors: new Counter({
      name: 'fraud_retrain_dependency_errors_total',
      help: 'Failed calls to MLflow, Kubernetes, Prometheus or Airflow (each retry counts)',
      labelNames: ['dependency'] as const,
      registers,
    }),
  };
}

export type HookMetrics = ReturnType<typeof createMetrics>;
