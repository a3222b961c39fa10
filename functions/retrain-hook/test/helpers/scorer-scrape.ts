// Prometheus scrapes the stand-in's scorer processes the way kube-prometheus-stack scrapes the score pods on
// a cluster: targets are discovered (here from a file_sd file the stand-in rewrites, there from the pods)
// with the pod's Kubernetes meta labels, and the relabelling of monitoring/podmonitors.yaml (fraud-score)
// plus the operator's own `namespace`/`pod` rules turns them into the labels the hook's queries select on.
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type PrometheusOptions, prometheusConfig, type RunningPrometheus } from '@fraud/testkit/prometheus';
import type { ScorerPod } from './scorer-revisions.ts';

const META = '__meta_kubernetes_pod_label_serving_knative_dev_';

/** The scrape job prometheus-operator generates from the fraud-score PodMonitor (the parts the queries use). */
export function scorerScrapeJob(targetsFile: string) {
  return {
    job_name: 'podMonitor/fraud/fraud-score/0',
    metrics_path: '/metrics',
    file_sd_configs: [{ files: [targetsFile], refresh_interval: '1s' }],
    relabel_configs: [
      // added by prometheus-operator to every PodMonitor endpoint
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      // monitoring/podmonitors.yaml, fraud-score
      { target_label: 'job', replacement: 'score' },
      { source_labels: [`${META}service`], target_label: 'service' },
      { source_labels: [`${META}revision`], target_label: 'revision' },
    ],
  };
}

/** The file_sd content for the running scorers, labelled like Knative labels a revision's pods. */
export function scorerTargets(pods: ScorerPod[], namespace: string, service: string) {
  return pods.map((pod) => ({
    targets: [`127.0.0.1:${pod.port}`],
    labels: {
      __meta_kubernetes_namespace: namespace,
      __meta_kubernetes_pod_name: `${pod.revision}-deployment-${pod.port}`,
      [`${META}service`]: service,
      [`${META}revision`]: pod.revision,
    },
  }));
}

export function writeTargets(file: string, groups: unknown[]): void {
  const staging = `${file}.tmp`;
  writeFileSync(staging, JSON.stringify(groups));
  renameSync(staging, file); // file_sd must never read a half-written file
}

/**
 * Adds the scorer job to a running testkit Prometheus: its config (written by startPrometheus as
 * <dir>/prometheus.json) is regenerated from the same options with the job appended, then reloaded with
 * SIGHUP. The testkit has no option for discovered targets; the rest of its config stays as it made it.
 */
export async function addScorerJob(
  prometheus: RunningPrometheus,
  startedWith: PrometheusOptions,
  targetsFile: string,
): Promise<void> {
  const configFile = path.join(prometheus.dir, 'prometheus.json');
  if (!existsSync(configFile))
    throw new Error(`no Prometheus config at ${configFile}: has @fraud/testkit changed?`);
  if (!existsSync(targetsFile)) writeTargets(targetsFile, []);
  if (startedWith.rules?.length)
    throw new Error('addScorerJob does not carry rule files over (none needed yet)');
  const config = prometheusConfig(startedWith, [], `127.0.0.1:${prometheus.port}`) as {
    scrape_configs: unknown[];
  };
  config.scrape_configs.push(scorerScrapeJob(targetsFile));
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  prometheus.process.child.kill('SIGHUP');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(`${prometheus.url}/api/v1/status/config`).catch(() => undefined);
    const body = response?.ok ? ((await response.json()) as { data: { yaml: string } }) : undefined;
    if (body?.data.yaml.includes('fraud-score')) return;
    if (Date.now() > deadline)
      throw new Error(
        `Prometheus did not load the scorer job; log ${prometheus.process.logFile}:\n${prometheus.process.tail()}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}
