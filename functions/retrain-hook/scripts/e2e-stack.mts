#!/usr/bin/env -S npx tsx
// The Kubernetes side of the Airflow end-to-end test (airflow/tests/test_e2e_retrain.py), as one process:
// test/helpers/stack.ts (the real node with the real Knative Serving 1.15 and the repository's `score`
// Service, synthetic transactions fed to each revision's pods by the real status.traffic, a real Prometheus
// scraping them with the PodMonitor's relabelling), a real MLflow on the node's bridge address (where the
// pods reach it; the DAG logs to it too) and the retrain-hook itself, with its least-privilege RBAC.
// Starts the node: run it under `flock /tmp/fraud-node-dev.lock` (the python suite's caller holds it).
//
// env: AIRFLOW_HMAC_SECRET (required); CANARY_FAIL_VERSIONS=3,5: the decision sink every score revision
// publishes to (before-reply delivery, no retries) refuses the decisions of those model versions, so their
// real pods answer every request 503 — a canary whose error rate rises, whatever model the DAG trained;
// OBSERVATION_SECONDS (default 5). Prints one JSON line {hook_url, mlflow_url, kubeconfig, namespace,
// service} when ready; stops everything on SIGTERM/SIGINT or when stdin closes.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type RunningMlflow, startMlflow } from '@fraud/testkit/mlflow';
import { nodeIp } from '@fraud/testkit/node/cluster';
import { loadConfig } from '../src/config.ts';
import { createHook } from '../src/hook.ts';
import { kubeConfigFrom } from '../test/helpers/hook.ts';
import { NS, SERVICE, startRolloutStack, writePolicy } from '../test/helpers/stack.ts';

const failing = new Set((process.env.CANARY_FAIL_VERSIONS ?? '').split(',').filter(Boolean));
const log = (message: string) => process.stderr.write(`[e2e-stack] ${message}\n`);

/**
 * The decision sink of every revision, on the node's bridge address: 202 for a decision, 503 for one made
 * by a model version in CANARY_FAIL_VERSIONS (the version is in the decision's data, `model.version`).
 */
async function startDecisionSink(): Promise<{ url: string; refused: Map<string, number>; close(): void }> {
  const refused = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let version = '';
      try {
        version = String(JSON.parse(Buffer.concat(chunks).toString('utf8'))?.model?.version ?? '');
      } catch {
        // not a decision: accept it like any other event
      }
      if (failing.has(version)) {
        refused.set(version, (refused.get(version) ?? 0) + 1);
        res.writeHead(503).end('refused for CANARY_FAIL_VERSIONS');
      } else res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, nodeIp, resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://${nodeIp}:${port}/`, refused, close: () => server.close() };
}

let mlflow: RunningMlflow | undefined;
let sink: Awaited<ReturnType<typeof startDecisionSink>> | undefined;
log('starting the node, Knative Serving, MLflow, Prometheus and the first score pod');
const stack = await startRolloutStack({
  mlflow: async (host) => {
    mlflow = await startMlflow({ host });
    sink = await startDecisionSink();
    return mlflow.url;
  },
  // Every revision publishes to the sink; the sink decides which versions fail.
  scoreEnv: () => ({
    DECISION_SINK_URL: sink?.url ?? '',
    DECISION_SINK_DELIVERY: 'before-reply',
    SINK_MAX_RETRIES: '0',
  }),
});
const policyFile = writePolicy(stack.dir, {
  ready_timeout_seconds: 180,
  observation_seconds: Number(process.env.OBSERVATION_SECONDS ?? 5),
  poll_seconds: 1,
});
const mlflowUrl = stack.mlflowUrl;

const hook = createHook(
  loadConfig({
    ...process.env,
    MLFLOW_TRACKING_URI: mlflowUrl,
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
log(`hook at ${hookUrl}, MLflow at ${mlflowUrl}, decision sink at ${sink?.url}`);
process.stdout.write(
  `${JSON.stringify({ hook_url: hookUrl, mlflow_url: mlflowUrl, kubeconfig: stack.cluster.kubeconfig, namespace: NS, service: SERVICE })}\n`,
);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  const answers = [...stack.feeder.answers].map(([r, byStatus]) => [r, Object.fromEntries(byStatus)]);
  log(`feeder answers by revision and status: ${JSON.stringify(answers)}`);
  log(
    `decisions refused by the sink, by version: ${JSON.stringify(Object.fromEntries(sink?.refused ?? []))}`,
  );
  await hook.stop();
  await stack.stop();
  sink?.close();
  await mlflow?.stop();
  process.exit(0);
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
