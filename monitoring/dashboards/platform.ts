// The platform dashboard: capacity (instances vs min/max scale, CPU and memory vs requests), traffic,
// latency, errors and the Kafka path.
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { ns, QueryRegistry, target } from './panels.ts';
import { datasourceVariable, namespaceVariable } from './variables.ts';

const revisionPod = 'pod=~"score-(?:[0-9]+|model-v[0-9]+)-deployment-.+"';

export function platformDashboard() {
  const q = new QueryRegistry('fraud-platform');
  const builder = new DashboardBuilder('Fraud platform')
    .uid('fraud-platform')
    .description('Capacity, traffic, latency, errors and the Kafka path of the fraud-scoring service.')
    .tags(['fraud', 'generated'])
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .withVariable(datasourceVariable())
    .withVariable(namespaceVariable())

    .withRow(new RowBuilder('Capacity'))
    .withPanel(
      q.timeseries(
        'Instances per revision vs min/max scale',
        'short',
        [
          target('fraud:scorer_instances:sum{namespace=~"$namespace"}', '{{revision}} instances', 'cluster'),
          target(
            'fraud:scorer_ready_instances:sum{namespace=~"$namespace"}',
            '{{revision}} ready',
            'cluster',
          ),
          target('vector(4)', 'min-scale', 'constant'),
          target('vector(6)', 'max-scale', 'constant'),
          target(
            `count by (revision) (fraud_scorer_ready{${ns}} == 1)`,
            '{{revision}} scraped ready',
            'scorer',
          ),
        ],
        'Knative pods per revision (kn_revision_pods_count, autoscaler_actual_pods or kube-state-metrics).',
      ),
    )
    .withPanel(
      q.timeseries('CPU vs request', 'percentunit', [
        target(
          'fraud:scorer_cpu_usage:ratio_of_request{namespace=~"$namespace"}',
          '{{revision}} of request',
          'cluster',
        ),
        target('vector(0.8)', 'alert (80%)', 'constant'),
        target(
          `sum by (instance) (rate(process_cpu_seconds_total{job="score", ${ns}}[$__rate_interval]))`,
          '{{instance}} process cores',
          'scorer',
        ),
      ]),
    )
    .withPanel(
      q.timeseries('Memory vs request', 'bytes', [
        target(
          `sum by (pod) (container_memory_working_set_bytes{container!="", container!="POD", ${revisionPod}, ${ns}})`,
          '{{pod}} working set',
          'cluster',
        ),
        target(
          `sum by (pod) (kube_pod_container_resource_requests{resource="memory", ${revisionPod}, ${ns}})`,
          '{{pod}} request',
          'cluster',
        ),
        target(`process_resident_memory_bytes{job="score", ${ns}}`, '{{instance}} RSS', 'scorer'),
      ]),
    )
    .withPanel(
      q.timeseries('Queue depth and batch size', 'short', [
        target(`sum by (instance) (fraud_scorer_queue_depth{${ns}})`, '{{instance}} queued rows', 'scorer'),
        target(
          `sum(rate(fraud_scorer_batch_size_sum{${ns}}[$__rate_interval])) / sum(rate(fraud_scorer_batch_size_count{${ns}}[$__rate_interval]))`,
          'mean rows per ONNX run',
          'scorer',
        ),
      ]),
    )

    .withRow(new RowBuilder('Traffic and latency'))
    .withPanel(
      q.timeseries('Requests/s by route and outcome', 'reqps', [
        target(
          `sum by (route, outcome) (rate(fraud_scorer_requests_total{${ns}}[$__rate_interval]))`,
          '{{route}} {{outcome}}',
          'scorer',
        ),
        target(`sum(rate(fraud_scorer_rows_total{${ns}}[$__rate_interval]))`, 'rows/s', 'scorer'),
      ]),
    )
    .withPanel(
      q.timeseries(
        'Latency percentiles (successful requests)',
        's',
        ['0.5', '0.95', '0.99'].map((p) =>
          target(
            `histogram_quantile(${p}, sum by (le) (rate(fraud_scorer_request_duration_seconds_bucket{outcome="ok", ${ns}}[$__rate_interval])))`,
            `p${Number(p) * 100}`,
            'scorer',
          ),
        ),
      ),
    )
    .withPanel(
      q.timeseries('Inference and event age (p99)', 's', [
        target(
          `histogram_quantile(0.99, sum by (le) (rate(fraud_scorer_inference_duration_seconds_bucket{${ns}}[$__rate_interval])))`,
          'ONNX run p99',
          'scorer',
        ),
        target(
          `histogram_quantile(0.99, sum by (le) (rate(fraud_scorer_event_age_seconds_bucket{${ns}}[$__rate_interval])))`,
          'event age p99',
          'scorer',
        ),
      ]),
    )
    .withPanel(
      q.timeseries('Errors', 'percentunit', [
        target(
          'fraud:scorer_requests_bad:ratio_rate5m{namespace=~"$namespace"}',
          'bad ratio (5m, SLO 0.1%)',
          'scorer',
        ),
        target(
          `sum by (outcome) (rate(fraud_scorer_requests_total{outcome!="ok", ${ns}}[$__rate_interval])) / ignoring (outcome) group_left sum(rate(fraud_scorer_requests_total{${ns}}[$__rate_interval]))`,
          '{{outcome}} share',
          'scorer',
        ),
        target(
          `sum by (outcome) (rate(fraud_scorer_sink_events_total{outcome!="sent", ${ns}}[$__rate_interval]))`,
          'decision sink {{outcome}}/s',
          'scorer',
        ),
      ]),
    )

    .withRow(new RowBuilder('Kafka'))
    .withPanel(
      q.timeseries('Consumer lag on transactions', 'short', [
        target(
          'sum by (consumergroup) (kafka_consumergroup_lag{topic="transactions"})',
          '{{consumergroup}}',
          'kafka',
        ),
        target('vector(10000)', 'alert (10k)', 'constant'),
      ]),
    )
    .withPanel(
      q.timeseries('Dead letters', 'short', [
        target(
          'sum(increase(kafka_topic_partition_current_offset{topic="transactions-dlq"}[$__rate_interval]))',
          'dead letters',
          'kafka',
        ),
        target(
          'sum(kafka_topic_partition_current_offset{topic="transactions-dlq"})',
          'total on the topic',
          'kafka',
        ),
      ]),
    );
  return { dashboard: builder.build(), queries: q.queries };
}
