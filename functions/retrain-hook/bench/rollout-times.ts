// How long a rollout takes on the real Knative controller: Airflow callback → 100 % of status.traffic on
// the new revision (promotion), and callback → rollback complete (version tagged rolled_back and 100 % of
// status.traffic back on the champion), alternating, `--runs` of each (default 5). The stack is the rollout
// test's (test/helpers/stack.ts: the real node, Knative Serving 1.15, MLflow on the node's address,
// Prometheus scraping the pods, the feeder); the canary policy is the test's: 10 % for a 6 s observation
// window, polled every second. The failing canary is the model on other features (its pod answers 400).
//
//   flock /tmp/fraud-node-dev.lock npm run bench:rollout --workspace functions/retrain-hook [-- --runs 5]
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type RunningMlflow, startMlflow } from '@fraud/testkit/mlflow';
import { servedPercent } from '../src/knative.ts';
import { testHook } from '../test/helpers/hook.ts';
import { goodModel, otherFeaturesModel } from '../test/helpers/model-artifacts.ts';
import { goodMetrics, registerVersion, versionTags } from '../test/helpers/registry.ts';
import { airflowRequest, registered } from '../test/helpers/signed.ts';
import { SERVICE, startRolloutStack, writePolicy } from '../test/helpers/stack.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error('--runs must be an integer 1..20');

const observationSeconds = 6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (message: string) => console.error(`[bench] ${new Date().toISOString()} ${message}`);
const revisionOf = (version: string) => `${SERVICE}-model-v${version}`;

let mlflow: RunningMlflow | undefined;
const started = Date.now();
const stack = await startRolloutStack({
  mlflow: async (host) => {
    mlflow = await startMlflow({ host });
    return mlflow.url;
  },
  badInputEvery: 10,
});
log(`stack up in ${((Date.now() - started) / 1000).toFixed(0)} s`);
const policy = writePolicy(mkdtempSync(path.join(os.tmpdir(), 'rollout-bench-')), {
  traffic_percent: 10,
  ready_timeout_seconds: 180,
  observation_seconds: observationSeconds,
  poll_seconds: 1,
  max_error_rate: 0.05,
  max_p95_latency_ms: 300,
  require_traffic: true,
});
const hook = testHook(
  {
    MLFLOW_TRACKING_URI: stack.mlflowUrl,
    PROMETHEUS_URL: stack.prometheus.url,
    POLICY_FILE: policy,
    SCORE_SERVICE: SERVICE,
  },
  stack.hookKubeconfig,
);
const hookUrl = await hook.start();

interface Run {
  kind: 'promotion' | 'rollback';
  version: string;
  /** callback → canary Ready and routed (status.traffic names it) */
  canaryRoutedS: number;
  /** callback → the end (see the header) */
  totalS: number;
}

async function once(kind: Run['kind'], champion: string): Promise<Run> {
  const url = stack.mlflowUrl;
  const version = await registerVersion(
    url,
    goodMetrics({ champion_pr_auc: 0.8, champion_recall_at_target_precision: 0.7 }),
    'fraud-detector',
    kind === 'promotion' ? goodModel() : otherFeaturesModel(),
  );
  const request = airflowRequest(registered(version));
  const t0 = Date.now();
  const answer = await fetch(`${hookUrl}/airflow/events`, {
    method: 'POST',
    body: request.body,
    headers: request.headers,
  });
  if (answer.status !== 202)
    throw new Error(`callback for ${version}: ${answer.status} ${await answer.text()}`);
  let canaryRouted = 0;
  const target = kind === 'promotion' ? revisionOf(version) : revisionOf(champion);
  const want = kind === 'promotion' ? 'promoted' : 'rolled_back';
  for (;;) {
    const service = await stack.getService();
    if (!canaryRouted && servedPercent(service, revisionOf(version)) > 0) canaryRouted = Date.now();
    if (servedPercent(service, target) === 100 && (await versionTags(url, version))['rollout.state'] === want)
      break;
    const state = (await versionTags(url, version))['rollout.state'];
    if (state && state !== 'canary' && state !== want)
      throw new Error(`version ${version} ended ${state}, not ${want}`);
    if (Date.now() - t0 > 300_000) throw new Error(`version ${version}: no ${want} within 300 s`);
    await sleep(200);
  }
  await hook.rollout.settled();
  return {
    kind,
    version,
    canaryRoutedS: canaryRouted ? (canaryRouted - t0) / 1000 : Number.NaN,
    totalS: (Date.now() - t0) / 1000,
  };
}

const results: Run[] = [];
try {
  let champion = '';
  // The first version has no champion to compare with: it is promoted over the bundled revision.
  for (let i = 0; i < runs; i++) {
    for (const kind of ['promotion', 'rollback'] as const) {
      const run = await once(kind, champion);
      if (kind === 'promotion') champion = run.version;
      results.push(run);
      log(
        `${kind} of version ${run.version}: canary routed after ${run.canaryRoutedS.toFixed(1)} s, done after ${run.totalS.toFixed(1)} s`,
      );
    }
  }
} finally {
  await hook.stop();
  await stack.stop();
  await mlflow?.stop();
}

const summary = (kind: Run['kind']) => {
  const total = results.filter((r) => r.kind === kind).map((r) => r.totalS);
  const routed = results.filter((r) => r.kind === kind).map((r) => r.canaryRoutedS);
  const sorted = [...total].sort((a, b) => a - b);
  return {
    runs: total.length,
    seconds: total.map((s) => Number(s.toFixed(1))),
    median: Number((sorted[Math.floor(sorted.length / 2)] ?? Number.NaN).toFixed(1)),
    min: Number((sorted[0] ?? Number.NaN).toFixed(1)),
    max: Number((sorted[sorted.length - 1] ?? Number.NaN).toFixed(1)),
    canary_routed_seconds: routed.map((s) => Number(s.toFixed(1))),
  };
};
const report = {
  observation_seconds: observationSeconds,
  promotion: summary('promotion'),
  rollback: summary('rollback'),
};
console.log(`callback → 100 % on the new revision (promotion): ${JSON.stringify(report.promotion)}`);
console.log(`callback → rollback complete: ${JSON.stringify(report.rollback)}`);
console.log(JSON.stringify(report));
process.exit(0); // nothing is left to wait for; a stray keep-alive socket must not hold the process
