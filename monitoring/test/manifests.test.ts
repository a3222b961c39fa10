import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { alertmanagerConfigFile, chatTemplateFile } from '../src/alertmanager-config.ts';
import { monitoringDir } from '../src/rules.ts';

const run = promisify(execFile);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

async function render(): Promise<Manifest[]> {
  const { stdout } = await run('kubectl', ['kustomize', monitoringDir], {
    maxBuffer: 32 * 1024 * 1024,
  }).catch((e: Error & { code?: string }) => {
    if (e.code === 'ENOENT') throw new Error('kubectl (with kustomize) is missing: install kubectl >= 1.27');
    throw e;
  });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Manifest);
}

test('kubectl kustomize monitoring renders rules, monitors, dashboards and the Alertmanager Secret', async (t) => {
  const objects = await render();
  const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  t.deepEqual(kinds, [
    'ConfigMap/fraud-model-dashboard',
    'ConfigMap/fraud-platform-dashboard',
    'PodMonitor/fraud-archive',
    'PodMonitor/fraud-kafka-exporter',
    'PodMonitor/fraud-retrain-hook',
    'PodMonitor/fraud-score',
    'PodMonitor/knative-autoscaler',
    'PrometheusRule/fraud-event-path',
    'PrometheusRule/fraud-model',
    'PrometheusRule/fraud-scoring-service',
    'Secret/fraud-alertmanager-config',
  ]);
  for (const o of objects) t.is(o.metadata.namespace, 'monitoring', `${o.kind}/${o.metadata.name}`);
  for (const o of objects.filter((x) => x.apiVersion.startsWith('monitoring.coreos.com/'))) {
    t.is(o.metadata.labels?.release, 'kube-prometheus-stack', `${o.kind}/${o.metadata.name} release label`);
  }
  for (const o of objects.filter((x) => x.kind === 'ConfigMap'))
    t.is(o.metadata.labels?.grafana_dashboard, '1');
});

test('the Alertmanager Secret carries exactly the tested config and templates', async (t) => {
  const secret = (await render()).find((o) => o.kind === 'Secret')!;
  const decoded = Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
  t.deepEqual(Object.keys(decoded).sort(), ['alertmanager.yaml', 'fraud.tmpl']);
  t.is(decoded['alertmanager.yaml'], readFileSync(alertmanagerConfigFile, 'utf8'));
  t.is(decoded['fraud.tmpl'], readFileSync(chatTemplateFile, 'utf8'));
});

test('the Helm values select what this folder ships', (t) => {
  const values = readFileSync(path.join(monitoringDir, 'kube-prometheus-stack-values.yaml'), 'utf8');
  t.regex(values, /configSecret: fraud-alertmanager-config/);
  t.regex(values, /- fraud-alert-receivers/);
  t.regex(values, /labelValue: "1"/);
});
