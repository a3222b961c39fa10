// The model dashboard: what the model sees and decides, which version serves, drift, and the retraining loop.
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { ns, QueryRegistry, target } from './panels.ts';
import { datasourceVariable, namespaceVariable } from './variables.ts';

export function modelDashboard() {
  const q = new QueryRegistry('fraud-model');
  const builder = new DashboardBuilder('Fraud model')
    .uid('fraud-model')
    .description(
      'Scores, decisions, fraud rate, model version and age, drift against the baseline, rollouts.',
    )
    .tags(['fraud', 'generated'])
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    .withVariable(datasourceVariable())
    .withVariable(namespaceVariable())

    .withRow(new RowBuilder('Model'))
    .withPanel(
      q.stat('Model version serving', 'none', [
        target(
          `count by (name, version) (fraud_scorer_model_info{${ns}})`,
          '{{name}} v{{version}} (instances)',
          'scorer',
        ),
      ]),
    )
    .withPanel(
      q.stat('Decision threshold', 'none', [
        target(`max(fraud_scorer_threshold{${ns}})`, 'threshold', 'scorer'),
      ]),
    )
    .withPanel(
      q.stat(
        'Model age',
        's',
        [
          // The served model's card (as FraudModelStale reads it), and the hook's last reported training.
          target(
            `time() - max by (name, version) (fraud_scorer_model_trained_timestamp_seconds{${ns}})`,
            'served {{name}} v{{version}} trained',
            'scorer',
          ),
          target(
            `time() - max(fraud_retrain_last_training_success_timestamp_seconds{${ns}} > 0)`,
            'last successful training',
            'retrain-hook',
          ),
        ],
        'Since the served model was trained (its card) and since the last successful training run. Alert: 2 days.',
      ),
    )
    .withPanel(
      q.stat('Drift (KS distance, 1h)', 'none', [
        target('max(fraud:scorer_score_drift:ks_rate1h{namespace=~"$namespace"})', 'KS', 'scorer'),
      ]),
    )

    .withRow(new RowBuilder('Decisions'))
    .withPanel(
      q.timeseries('Decisions/s', 'ops', [
        target(
          `sum by (decision) (rate(fraud_scorer_decisions_total{${ns}}[$__rate_interval]))`,
          '{{decision}}',
          'scorer',
        ),
      ]),
    )
    .withPanel(
      q.timeseries('Fraud rate', 'percentunit', [
        target(
          `sum(rate(fraud_scorer_decisions_total{decision="fraud", ${ns}}[$__rate_interval])) / sum(rate(fraud_scorer_decisions_total{${ns}}[$__rate_interval]))`,
          'fraud share',
          'scorer',
        ),
        target(
          'max(fraud:scorer_fraud_rate_spike:threshold{namespace=~"$namespace"})',
          'spike alert line',
          'scorer',
        ),
        target(`max(fraud_scorer_model_baseline_fraud_rate{${ns}})`, 'model baseline (card)', 'scorer'),
      ]),
    )

    .withRow(new RowBuilder('Scores and drift'))
    .withPanel(
      q.timeseries('Score distribution (scores/s per bucket)', 'ops', [
        target(
          `sum by (le) (rate(fraud_scorer_score_bucket{${ns}}[$__rate_interval]))`,
          'score <= {{le}}',
          'scorer',
        ),
      ]),
    )
    .withPanel(
      q.timeseries('Live CDF vs baseline', 'percentunit', [
        target(
          `sum by (le) (rate(fraud_scorer_score_bucket{le!="+Inf", ${ns}}[$__rate_interval])) / ignoring (le) group_left sum(rate(fraud_scorer_score_count{${ns}}[$__rate_interval]))`,
          'live <= {{le}}',
          'scorer',
        ),
        target(
          `max by (le) (fraud_scorer_model_baseline_score_cumulative_fraction{${ns}})`,
          'baseline <= {{le}}',
          'scorer',
        ),
      ]),
    )

    // Live model quality from matured labels (functions/archive): is the model right, not only what it says.
    .withRow(new RowBuilder('Live model quality'))
    .withPanel(
      q.timeseries(
        'Live recall and precision vs holdout',
        'percentunit',
        [
          target('fraud:archive_model_recall:max', 'recall {{name}} v{{version}}', 'archive'),
          target(
            `max by (name, version) (fraud_archive_model_precision{${ns}})`,
            'precision {{name}} v{{version}}',
            'archive',
          ),
          target(
            'fraud:scorer_model_holdout_recall:max',
            'holdout recall (card) {{name}} v{{version}}',
            'scorer',
          ),
          target('fraud:model_recall_drop:threshold', 'recall alert line {{name}} v{{version}}', 'scorer'),
        ],
        'Over decisions older than the label maturity window; FraudModelRecallDrop fires below the alert line with >= 30 labelled frauds for 30m.',
      ),
    )
    .withPanel(
      q.timeseries('Fraud amount caught', 'percentunit', [
        target(
          `max by (name, version) (fraud_archive_model_fraud_amount_caught_ratio{${ns}})`,
          '{{name}} v{{version}}',
          'archive',
        ),
      ]),
    )
    .withPanel(
      q.timeseries('Matured decisions and labels', 'short', [
        target(
          `max by (name, version) (fraud_archive_model_matured_decisions{${ns}})`,
          'matured {{name}} v{{version}}',
          'archive',
        ),
        target(
          `max by (name, version) (fraud_archive_model_labelled_decisions{${ns}})`,
          'labelled {{name}} v{{version}}',
          'archive',
        ),
        target('fraud:archive_model_labelled_frauds:max', 'labelled frauds {{name}} v{{version}}', 'archive'),
      ]),
    )
    .withPanel(
      q.timeseries('Label delay (decision to label)', 's', [
        target(
          `max by (source, quantile) (fraud_archive_label_delay_seconds{${ns}})`,
          '{{source}} p{{quantile}}',
          'archive',
        ),
      ]),
    )
    .withPanel(
      q.timeseries('Archive ingest (rows/s)', 'ops', [
        target(
          `sum by (table) (rate(fraud_archive_rows_written_total{${ns}}[$__rate_interval]))`,
          '{{table}}',
          'archive',
        ),
        target(
          `sum by (type) (rate(fraud_archive_events_total{outcome!="archived", ${ns}}[$__rate_interval]))`,
          'not archived: {{type}}',
          'archive',
        ),
      ]),
    )

    .withRow(new RowBuilder('Retraining and rollouts'))
    .withPanel(
      q.timeseries('Promotions, rejections, rollbacks', 'short', [
        target(`sum(increase(fraud_retrain_promotions_total{${ns}}[1h]))`, 'promotions / 1h', 'retrain-hook'),
        target(`sum(increase(fraud_retrain_rejections_total{${ns}}[1h]))`, 'rejections / 1h', 'retrain-hook'),
        target(
          `sum by (reason) (increase(fraud_retrain_rollbacks_total{${ns}}[1h]))`,
          'rollbacks / 1h ({{reason}})',
          'retrain-hook',
        ),
        target(`max(fraud_retrain_rollout_in_progress{${ns}})`, 'rollout in progress', 'retrain-hook'),
      ]),
    )
    .withPanel(
      q.timeseries('Rollout and gate durations (p90)', 's', [
        target(
          `histogram_quantile(0.9, sum by (le, outcome) (rate(fraud_retrain_rollout_duration_seconds_bucket{${ns}}[6h])))`,
          'rollout {{outcome}}',
          'retrain-hook',
        ),
        target(
          `histogram_quantile(0.9, sum by (le) (rate(fraud_retrain_gate_duration_seconds_bucket{${ns}}[6h])))`,
          'gate',
          'retrain-hook',
        ),
      ]),
    );
  return { dashboard: builder.build(), queries: q.queries };
}
