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
