#!/usr/bin/env -S npx tsx
// The Kubernetes side of the Airflow end-to-end test (airflow/tests/test_e2e_retrain.py), as one process:
// a real kube-apiserver with the Knative Serving CRDs and a `score` Service, the test stand-in for the
// Knative controller (writes status only), scorer-shaped metrics for every routed revision scraped by a
// real Prometheus, and the retrain-hook itself. MLflow is started by the caller.
//
// env: MLFLOW_TRACKING_URI, AIRFLOW_HMAC_SECRET (required); CANARY_FAIL_VERSIONS=3,5 (their canary serves
// 30 % errors); OBSERVATION_SECONDS (default 5). Prints one JSON line {hook_url, kubeconfig, namespace,
// service} when ready; stops everything on SIGTERM/SIGINT or when stdin closes.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { knativeServingCrds, startControlPlane } from '@fraud/testkit/kube';
import { startPrometheus } from '@fraud/testkit/prometheus';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { loadConfig } from '../src/config.ts';
import { createHook } from '../src/hook.ts';
import { type KnativeService, versionOfRevision } from '../src/knative.ts';
import { loadPolicy } from '../src/policy.ts';
import { hookServiceAccountKubeconfig, kubeConfigFrom, packageRoot } from '../test/helpers/hook.ts';
import { startFakeController } from '../test/helpers/knative-controller.ts';
import { startScorerMetrics } from '../test/helpers/scorer-metrics.ts';

const NS = 'fraud';
const SERVICE = 'score';
const failing = new Set((process.env.CANARY_FAIL_VERSIONS ?? '').split(',').filter(Boolean));
const log = (message: string) => process.stderr.write(`[e2e-stack] ${message}\n`);

const dir = mkdtempSync(path.join(os.tmpdir(), 'e2e-stack-'));
const policyFile = path.join(dir, 'gate.json');
const shipped = loadPolicy(path.join(packageRoot, 'gate.json'));
writeFileSync(
  policyFile,
  JSON.stringify({
    gate: shipped.gate,
    canary: {
      ...shipped.canary,
      ready_timeout_seconds: 30,
      observation_seconds: Number(process.env.OBSERVATION_SECONDS ?? 5),
      poll_seconds: 1,
    },
  }),
);

const traffic = await startScorerMetrics(NS);
log('starting kube-apiserver and Prometheus');
const [cp, prometheus] = await Promise.all([
  knativeServingCrds().then((crds) => startControlPlane({ crds: [crds] })),
  startPrometheus({
    scrapeTargets: [{ job: 'score', targets: [traffic.target] }],
    scrapeInterval: '1s',
  }),
]);
await cp.kubectl(['create', 'namespace', NS]);
await cp.kubectl(
  ['apply', '-f', '-'],
  JSON.stringify({
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: SERVICE, namespace: NS },
    spec: {
      template: {
        spec: {
          containers: [
            { name: 'user-container', image: `registry.local/fraud/score@sha256:${'0'.repeat(64)}` },
          ],
        },
      },
    },
  }),
);
const kc = kubeConfigFrom(cp.kubeconfig);
const controller = startFakeController(kc, NS, SERVICE);
const api = kc.makeApiClient(CustomObjectsApi);
// The hook itself runs with its real, least-privilege RBAC (get/patch on Service score only).
const hookKc = kubeConfigFrom(await hookServiceAccountKubeconfig(cp));

// Requests flow to every revision the status routes to; the failing versions' canaries answer 30 % errors.
const feeder = setInterval(async () => {
  try {
    const service = (await api.getNamespacedCustomObject({
      group: 'serving.knative.dev',
      version: 'v1',
      namespace: NS,
      plural: 'services',
      name: SERVICE,
    })) as KnativeService;
    for (const target of service.status?.traffic ?? []) {
      if (!target.revisionName) continue;
      const version = versionOfRevision(SERVICE, target.revisionName);
      const bad = version !== undefined && failing.has(version);
      traffic.set(target.revisionName, { rps: 20, errorRate: bad ? 0.3 : 0, latencyMs: 8 });
    }
  } catch {
    // apiserver stopping
  }
}, 200);

const hook = createHook(
  loadConfig({
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    SCORE_NAMESPACE: NS,
    SCORE_SERVICE: SERVICE,
    PROMETHEUS_URL: prometheus.url,
    POLICY_FILE: policyFile,
    RETRY_BASE_MS: '100',
    RETRY_MAX_MS: '2000',
    STATUS_POLL_MS: '200',
  }),
  hookKc,
);
const hookUrl = await hook.start();
process.stdout.write(
  `${JSON.stringify({ hook_url: hookUrl, kubeconfig: cp.kubeconfig, namespace: NS, service: SERVICE })}\n`,
);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  clearInterval(feeder);
  await hook.stop();
  await controller.stop();
  await traffic.stop();
  await Promise.all([cp.stop(), prometheus.stop()]);
  process.exit(0);
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
