// The archive's Prometheus metrics (README "Metrics"), in a registry of its own.
import client from 'prom-client';

export class ArchiveMetrics {
  readonly registry = new client.Registry();

  readonly events = new client.Counter({
    name: 'fraud_archive_events_total',
    help: 'CloudEvents received, by type and outcome (archived, rejected = 4xx and dead-lettered, unavailable = 503).',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly rows = new client.Counter({
    name: 'fraud_archive_rows_written_total',
    help: 'Rows handed to PostgreSQL in successful statements, by table.',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly batchRows = new client.Histogram({
    name: 'fraud_archive_batch_rows',
    help: 'Rows per multi-row INSERT.',
    labelNames: ['table'] as const,
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [this.registry],
  });
  readonly batchSeconds = new client.Histogram({
    name: 'fraud_archive_batch_duration_seconds',
    help: 'Time of one multi-row INSERT, by table and outcome (ok, split = retried row by row, unavailable).',
    labelNames: ['table', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly retentionDeleted = new client.Counter({
    name: 'fraud_archive_retention_deleted_rows_total',
    help: 'Rows deleted by the retention job (ARCHIVE_RETENTION_DAYS), by table.',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly ready = new client.Gauge({
    name: 'fraud_archive_ready',
    help: '1 when the database answers and the migrations are applied.',
    registers: [this.registry],
  });

  // Live model quality from matured labels (quality.ts), per served model version (labels as
  // fraud_scorer_model_info: name, version). Recomputed every ARCHIVE_QUALITY_INTERVAL, not per scrape.
  readonly recall = this.modelGauge(
    'fraud_archive_model_recall',
    'Share of labelled frauds the model flagged (at its served threshold), over matured decisions.',
  );
  readonly precision = this.modelGauge(
    'fraud_archive_model_precision',
    'Share of flagged decisions that were fraud (unlabelled matured = legit).',
  );
  readonly amountCaught = this.modelGauge(
    'fraud_archive_model_fraud_amount_caught_ratio',
    'Amount of the frauds flagged / amount of all frauds, over matured decisions.',
  );
  readonly matured = this.modelGauge(
    'fraud_archive_model_matured_decisions',
    'Matured decisions judged (decided between window + maturity and maturity ago).',
  );
  readonly labelled = this.modelGauge(
    'fraud_archive_model_labelled_decisions',
    'Matured decisions that have a label.',
  );
  readonly frauds = this.modelGauge(
    'fraud_archive_model_labelled_frauds',
    'Matured decisions labelled fraud (the denominator of recall).',
  );
  readonly flagged = this.modelGauge(
    'fraud_archive_model_flagged_decisions',
    'Matured decisions the model called fraud.',
  );

  readonly labelDelay = new client.Gauge({
    name: 'fraud_archive_label_delay_seconds',
    help: 'Quantiles of the time from the decision to its current label, for labels of the quality window, by label source.',
    labelNames: ['source', 'quantile'] as const,
    registers: [this.registry],
  });
  readonly labelsInWindow = new client.Gauge({
    name: 'fraud_archive_labels_in_window',
    help: 'Current labels established within the quality window, by label source.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly qualityRuns = new client.Counter({
    name: 'fraud_archive_quality_runs_total',
    help: 'Runs of the model-quality queries, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly qualityLastSuccess = new client.Gauge({
    name: 'fraud_archive_quality_last_success_timestamp_seconds',
    help: 'When the model-quality metrics were last computed (Unix seconds).',
    registers: [this.registry],
  });
  readonly qualityMaturity = new client.Gauge({
    name: 'fraud_archive_quality_label_maturity_seconds',
    help: 'ARCHIVE_LABEL_MATURITY: how old a decision must be before it is judged.',
    registers: [this.registry],
  });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'fraud_archive_' });
  }

  private modelGauge(name: string, help: string) {
    return new client.Gauge({
      name,
      help,
      labelNames: ['name', 'version'] as const,
      registers: [this.registry],
    });
  }
}
