#!/usr/bin/env -S npx tsx
// The Kubernetes side of the Airflow end-to-end test (airflow/tests/test_e2e_retrain.py), as one process:
// test/helpers/stack.ts (a real kube-apiserver with the Knative Serving CRDs and a `score` Service, the
// test stand-in for the Knative controller running a real scorer per revision, synthetic transactions fed
// to them by status.traffic, a real Prometheus scraping them) and the retrain-hook itself. MLflow is started
// by the caller; the scorers load the DAG's models from it.
//
// env: MLFLOW_TRACKING_URI, AIRFLOW_HMAC_SECRET (required); CANARY_FAIL_VERSIONS=3,5: those versions'
// revisions run with a broken decision sink (DECISION_SINK_URL on a closed port, before-reply delivery, no
// retries), so their real scorer answers every request 503 — a canary whose error rate rises, whatever
// model the DAG trained; OBSERVATION_SECONDS (default 5). Prints one JSON line {hook_url, kubeconfig,
// namespace, service} when ready; stops everything on SIGTERM/SIGINT or when stdin closes.
import { freePort } from '@fraud/testkit/ports';
import { loadConfig } from '../src/config.ts';
import { createHook } from '../src/hook.ts';
import { versionOfRevision } from '../src/knative.ts';
import { kubeConfigFrom } from '../test/helpers/hook.ts';
import { NS, SERVICE, startRolloutStack, writePolicy } from '../test/helpers/stack.ts';

const failing = new Set((process.env.CANARY_FAIL_VERSIONS ?? '').split(',').filter(Boolean));
const log = (message: string) => process.stderr.write(`[e2e-stack] ${message}\n`);
const mlflowUrl = process.env.MLFLOW_TRACKING_URI;
if (!mlflowUrl) throw new Error('MLFLOW_TRACKING_URI is required: the scorers and the hook use that MLflow');

const brokenSink = `http://127.0.0.1:${await freePort()}/`; // nothing listens there
log('starting kube-apiserver, Prometheus and the first scorer');
const stack = await startRolloutStack({
  mlflowUrl,
  envFor: (revision, env) => {
    const version = versionOfRevision(SERVICE, revision);
    if (version === undefined || !failing.has(version)) return env;
    log(`revision ${revision} runs with a broken decision sink (CANARY_FAIL_VERSIONS)`);
    return {
      ...env,
      DECISION_SINK_URL: brokenSink,
      DECISION_SINK_DELIVERY: 'before-reply',
      SINK_MAX_RETRIES: '0',
    };
  },
});
const policyFile = writePolicy(stack.dir, {
  ready_timeout_seconds: 60,
  observation_seconds: Number(process.env.OBSERVATION_SECONDS ?? 5),
  poll_seconds: 1,
});

const hook = createHook(
  loadConfig({
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    SCORE_NAMESPACE: NS,
    SCORE_SERVICE: SERVICE,
    PROMETHEUS_URL: stack.prometheus.url,
    POLICY_FILE: policyFile,
    RETRY_BASE_MS: '100',
    RETRY_MAX_MS: '2000',
    STATUS_POLL_MS: '200',
  }),
  // The hook itself runs with its real, least-privilege RBAC (get/patch on Service score only).
  kubeConfigFrom(stack.hookKubeconfig),
);
const hookUrl = await hook.start();
log(`hook at ${hookUrl}; scorer logs in ${stack.dir}/logs`);
process.stdout.write(
  `${JSON.stringify({ hook_url: hookUrl, kubeconfig: stack.cp.kubeconfig, namespace: NS, service: SERVICE })}\n`,
);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  const answers = [...stack.feeder.answers].map(([r, byStatus]) => [r, Object.fromEntries(byStatus)]);
  log(`feeder answers by revision and status: ${JSON.stringify(answers)}`);
  await hook.stop();
  await stack.stop();
  process.exit(0);
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
