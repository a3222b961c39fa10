// The pieces of the cluster drill that need no node: the overlay as applied (only image refs and the CPU
// request changed, Eventing kinds left out and named) and the scrape configs translated from the PodMonitors,
// checked by promtool like Prometheus would load them.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { debianTool } from '@fraud/testkit/install/debian';
import { prometheusConfig } from '@fraud/testkit/prometheus';
import test from 'ava';
import { swapKnativeImages } from '../cluster/lib/live-knative.mts';
import { renderOverlay } from '../cluster/lib/live-platform.mts';
import { liveScrapeConfigs } from '../cluster/lib/live-scrape.mts';
import { clusterDrillCli } from '../drill-cluster.mts';
import { repoRoot } from '../lib/repo.mts';

const run = promisify(execFile);

for (const overlay of ['cpu', 'requests']) {
  test(`overlays/${overlay}: only image refs and the scorer's CPU request change`, async (t) => {
    const { stdout } = await run('kubectl', [
      'kustomize',
      path.join(repoRoot, 'knative', 'overlays', overlay),
    ]);
    const { docs, skipped } = renderOverlay(
      stdout,
      { score: 'local.fraud/fraud/score:abc', retrainHook: 'local.fraud/fraud/retrain-hook:def' },
      '100m',
    );
    const score = docs.find(
      (d) =>
        (d as { kind: string; metadata: { name: string } }).kind === 'Service' &&
        (d as { metadata: { name: string } }).metadata.name === 'score' &&
        String((d as { apiVersion: string }).apiVersion).startsWith('serving'),
    ) as {
      spec: {
        template: {
          metadata: { annotations: Record<string, string> };
          spec: {
            containers: {
              image: string;
              resources: { requests: Record<string, string>; limits: Record<string, string> };
            }[];
          };
        };
      };
    };
    t.truthy(score);
    const container = score.spec.template.spec.containers[0];
    t.is(container?.image, 'local.fraud/fraud/score:abc');
    t.is(container?.resources.requests.cpu, '100m');
    t.is(container?.resources.limits.memory, '1Gi', 'limits as the overlay sets them');
    t.is(score.spec.template.metadata.annotations['autoscaling.knative.dev/max-scale'], '6');
    t.is(
      score.spec.template.metadata.annotations['autoscaling.knative.dev/class'],
      overlay === 'cpu' ? 'hpa.autoscaling.knative.dev' : 'kpa.autoscaling.knative.dev',
    );
    t.true(
      skipped.some((s) => s.startsWith('KafkaSource/')),
      skipped.join('; '),
    );
    t.false(
      docs.some((d) => String((d as { apiVersion: string }).apiVersion).startsWith('sources.knative.dev')),
    );
  });
}

test('swapKnativeImages replaces every Knative release image and fails on one it has no local image for', (t) => {
  const yaml = 'image: gcr.io/knative-releases/knative.dev/serving/cmd/controller:v1.15.2\n';
  t.is(
    swapKnativeImages(yaml, {
      'ko://knative.dev/serving/cmd/controller': 'local.fraud/knative/serving/controller:1',
    }),
    'image: local.fraud/knative/serving/controller:1\n',
  );
  t.throws(() => swapKnativeImages(yaml, {}), {
    message: /no local image for knative.dev\/serving\/cmd\/controller/,
  });
});

test('the live scrape configs (PodMonitors, cAdvisor, kube-state-metrics) pass promtool check config', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'live-scrape-'));
  for (const f of ['ca.crt', 'admin.crt', 'admin.key']) writeFileSync(path.join(dir, f), '');
  const configs = liveScrapeConfigs({
    repoRoot,
    api: {
      server: 'https://10.213.0.1:6443',
      caFile: `${dir}/ca.crt`,
      certFile: `${dir}/admin.crt`,
      keyFile: `${dir}/admin.key`,
    },
    podsFile: `${dir}/pods.json`,
    kubelet: '10.213.0.1:10250',
    interval: '5s',
  }) as {
    job_name: string;
    relabel_configs?: { target_label?: string; source_labels?: string[]; regex?: string }[];
  }[];
  const score = configs.find((c) => c.job_name.includes('fraud-score'));
  t.truthy(score);
  t.true(score?.relabel_configs?.some((r) => r.regex === 'user-port'));
  t.true(
    score?.relabel_configs?.some(
      (r) =>
        r.target_label === 'revision' &&
        r.source_labels?.[0] === '__meta_kubernetes_pod_label_serving_knative_dev_revision',
    ),
  );
  t.true(configs.some((c) => c.job_name === 'kubelet'));
  const file = path.join(dir, 'prometheus.json');
  writeFileSync(
    file,
    JSON.stringify(prometheusConfig({ extraScrapeConfigs: configs }, [], '127.0.0.1:9090')),
  );
  const promtool = await debianTool('promtool');
  const { stdout } = await run(promtool, ['check', 'config', '--syntax-only', file]).catch(
    (e: { stdout: string; stderr: string }) => {
      t.fail(`${e.stdout}\n${e.stderr}`);
      return { stdout: '' };
    },
  );
  t.regex(stdout, /SUCCESS/);
});

test('drill --cluster: --help exits 0, usage errors exit 2', async (t) => {
  t.is(await clusterDrillCli({ _: [], cluster: true, help: true }), 0);
  t.is(await clusterDrillCli({ _: [], cluster: true, overlay: 'gpu' }), 2);
  t.is(await clusterDrillCli({ _: [], cluster: true, for: 'soon' }), 2);
  t.is(await clusterDrillCli({ _: [], cluster: true, bogus: 1 }), 2);
});
