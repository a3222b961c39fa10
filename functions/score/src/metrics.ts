// Prometheus metrics (prom-client default registry, so /metrics also carries the default process metrics).
// Names and labels are a contract with monitoring/: see README.md before renaming anything.
import client from 'prom-client';
import type { ModelCard } from './model/card.ts';

export type Route = 'cloudevents' | 'score' | 'v2_infer' | 'grpc_infer';
export type Outcome = 'ok' | 'invalid' | 'rejected' | 'not_ready' | 'error';

const latencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

// Card fields the scorer does not need to serve, so card.ts does not type them: read them defensively.
type CardFacts = { created_at?: unknown; baseline?: { fraud_rate_at_threshold?: unknown } };

/** baseline.fraud_rate_at_threshold when it is a fraction in [0, 1]. */
export function baselineFraudRate(card: ModelCard): number | undefined {
  const rate = (card as CardFacts).baseline?.fraud_rate_at_threshold;
  return typeof rate === 'number' && rate >= 0 && rate <= 1 ? rate : undefined;
}

/** The card's metrics.recall_at_threshold (holdout recall at the served threshold), when it is in [0, 1]. */
export function holdoutRecall(card: ModelCard): number | undefined {
  const recall = (card as { metrics?: { recall_at_threshold?: unknown } }).metrics?.recall_at_threshold;
  return typeof recall === 'number' && recall >= 0 && recall <= 1 ? recall : undefined;
}

// RFC 3339 with an explicit zone, as the trainer writes it (2026-11-28T04:40:43Z): a zoneless time would be
// read in the container's local zone.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** created_at in Unix seconds, when it is an RFC 3339 date-time. */
export function trainedAtSeconds(card: ModelCard): number | undefined {
  const createdAt = (card as CardFacts).created_at;
  if (typeof createdAt !== 'string' || !RFC3339.test(createdAt)) return undefined;
  const ms = Date.parse(createdAt);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}

export class ScorerMetrics {
  readonly registry = client.register;
  readonly requests = new client.Counter({
    name: 'fraud_scorer_requests_total',
    help: 'Requests handled, by route and outcome (invalid = 4xx bad input, rejected = 429 backpressure).',
    labelNames: ['route', 'outcome'] as const,
  });
  readonly requestDuration = new client.Histogram({
    name: 'fraud_scorer_request_duration_seconds',
    help: 'Time from request received to reply sent.',
    labelNames: ['route', 'outcome'] as const,
    buckets: latencyBuckets,
  });
  readonly rows = new client.Counter({
    name: 'fraud_scorer_rows_total',
    help: 'Transactions (rows) scored.',
    labelNames: ['route'] as const,
  });
  readonly inferenceDuration = new client.Histogram({
    name: 'fraud_scorer_inference_duration_seconds',
    help: 'Duration of one batched ONNX run in a worker thread.',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
  });
  readonly batchSize = new client.Histogram({
    name: 'fraud_scorer_batch_size',
    help: 'Rows per batched ONNX run.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
  });
  readonly queueDepth = new client.Gauge({
    name: 'fraud_scorer_queue_depth',
    help: 'Rows waiting for a worker.',
  });
  readonly decisions = new client.Counter({
    name: 'fraud_scorer_decisions_total',
    help: 'Decisions taken, by decision.',
    labelNames: ['decision'] as const,
  });
  readonly threshold = new client.Gauge({
    name: 'fraud_scorer_threshold',
    help: 'Decision threshold in force.',
  });
  readonly modelInfo = new client.Gauge({
    name: 'fraud_scorer_model_info',
    help: 'The model being served (value always 1).',
    labelNames: ['name', 'version', 'sha256'] as const,
  });
  // Facts of the served model's card, labelled like fraud_scorer_model_info so alerts can name the model.
  readonly modelBaselineFraudRate = new client.Gauge({
    name: 'fraud_scorer_model_baseline_fraud_rate',
    help: "The model card's baseline.fraud_rate_at_threshold: share of holdout rows scored as fraud.",
    labelNames: ['name', 'version'] as const,
  });
  readonly modelHoldoutRecall = new client.Gauge({
    name: 'fraud_scorer_model_holdout_recall',
    help: "The model card's metrics.recall_at_threshold: recall on the holdout at the served threshold (what FraudModelRecallDrop compares live recall with).",
    labelNames: ['name', 'version'] as const,
  });
  readonly modelTrainedTimestamp = new client.Gauge({
    name: 'fraud_scorer_model_trained_timestamp_seconds',
    help: "The model card's created_at (when the model was trained), in Unix seconds.",
    labelNames: ['name', 'version'] as const,
  });
  readonly ready = new client.Gauge({
    name: 'fraud_scorer_ready',
    help: '1 once the configured model is loaded and warmed, else 0.',
  });
  readonly eventAge = new client.Histogram({
    name: 'fraud_scorer_event_age_seconds',
    help: 'Now minus the event time (CloudEvent time, else the transaction timestamp).',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
  });
  readonly sinkEvents = new client.Counter({
    name: 'fraud_scorer_sink_events_total',
    help: 'Decisions published to DECISION_SINK_URL, by outcome (sent, retried, failed, dropped).',
    labelNames: ['outcome'] as const,
  });
  readonly sinkBufferDepth = new client.Gauge({
    name: 'fraud_scorer_sink_buffer_depth',
    help: 'Decisions waiting to be published.',
  });
  private score: client.Histogram | undefined;
  private baseline: client.Gauge<'le'> | undefined;

  constructor() {
    client.collectDefaultMetrics();
    this.ready.set(0);
    // Pre-create the label sets dashboards divide by, so they read 0 instead of "no data".
    for (const decision of ['fraud', 'legit']) this.decisions.inc({ decision }, 0);
    for (const outcome of ['sent', 'retried', 'failed', 'dropped']) this.sinkEvents.inc({ outcome }, 0);
  }

  /** Metrics that depend on the model card; called once the model is loaded. */
  setModel(card: ModelCard, sha256: string, threshold: number): void {
    this.modelInfo.reset();
    this.modelInfo.set({ name: card.name, version: card.version, sha256 }, 1);
    this.threshold.set(threshold);
    // A card without these facts exports no series: the alerts treat "absent" as "unknown", never as 0.
    this.modelBaselineFraudRate.reset();
    this.modelTrainedTimestamp.reset();
    this.modelHoldoutRecall.reset();
    const model = { name: card.name, version: card.version };
    const baselineRate = baselineFraudRate(card);
    if (baselineRate !== undefined) this.modelBaselineFraudRate.set(model, baselineRate);
    const trainedAt = trainedAtSeconds(card);
    if (trainedAt !== undefined) this.modelTrainedTimestamp.set(model, trainedAt);
    const recall = holdoutRecall(card);
    if (recall !== undefined) this.modelHoldoutRecall.set(model, recall);
    const buckets = card.baseline?.score_buckets?.length
      ? card.baseline.score_buckets
      : [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1];
    client.register.removeSingleMetric('fraud_scorer_score');
    this.score = new client.Histogram({
      name: 'fraud_scorer_score',
      help: "Fraud probability of every scored row; buckets = the model card's baseline.score_buckets.",
      buckets,
    });
    client.register.removeSingleMetric('fraud_scorer_model_baseline_score_cumulative_fraction');
    this.baseline = new client.Gauge({
      name: 'fraud_scorer_model_baseline_score_cumulative_fraction',
      help: "The model card's baseline: fraction of holdout scores <= le.",
      labelNames: ['le'] as const,
    });
    const fractions = card.baseline?.score_cumulative_fraction ?? [];
    buckets.forEach((le, i) => {
      const f = fractions[i];
      if (typeof f === 'number') this.baseline?.set({ le: String(le) }, f);
    });
  }

  // Label lookups hash the label object on every call: keep the children of the hot-path series.
  private readonly requestChildren = new Map<
    string,
    { count: client.Counter.Internal; duration: client.Histogram.Internal<'route' | 'outcome'> }
  >();

  observeRequest(route: Route, outcome: Outcome, seconds: number): void {
    const key = `${route} ${outcome}`;
    let child = this.requestChildren.get(key);
    if (!child) {
      child = {
        count: this.requests.labels(route, outcome),
        duration: this.requestDuration.labels(route, outcome),
      };
      this.requestChildren.set(key, child);
    }
    child.count.inc();
    child.duration.observe(seconds);
  }

  observeScores(scores: Float32Array, threshold: number): void {
    let fraud = 0;
    for (const s of scores) {
      this.score?.observe(s);
      if (s >= threshold) fraud++;
    }
    if (fraud) this.decisions.inc({ decision: 'fraud' }, fraud);
    if (scores.length - fraud) this.decisions.inc({ decision: 'legit' }, scores.length - fraud);
  }
}
