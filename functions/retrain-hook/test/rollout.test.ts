// The whole hook against real services: MLflow 3 (SQLite), a real kube-apiserver with the Knative Serving
// CRDs, real scorer processes (functions/score) serving each revision's model from MLflow, real synthetic
// transactions sent to them by status.traffic, and a real Prometheus scraping the scorers with the cluster's
// labels. Only the Knative controller is played by the test (helpers/knative-controller.ts: it starts the
// scorers and writes status), since nothing here runs containers. Start-up: helpers/stack.ts.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RunningMlflow, startMlflow } from '@fraud/testkit/mlflow';
import anyTest, { type TestFn } from 'ava';
import { DEFAULT_QUERIES } from '../src/config.ts';
import type { Hook } from '../src/hook.ts';
import { renderQuery } from '../src/prometheus.ts';
import { kubeConfigFrom, testHook } from './helpers/hook.ts';
import { damagedModel, goodModel, otherFeaturesModel } from './helpers/model-artifacts.ts';
import { aliasVersion, goodMetrics, registerVersion, versionTags } from './helpers/registry.ts';
import { airflowRequest, MLFLOW_SECRET, registered } from './helpers/signed.ts';
import { NS, type RolloutStack, SERVICE, startRolloutStack, writePolicy } from './helpers/stack.ts';

const test = anyTest as TestFn;

let mlflow: RunningMlflow;
let stack: RolloutStack;
let hook: Hook;
let hookUrl: string;
let policyFile: string;
let hookKubeconfig: string;
const getService = () => stack.getService();
/** A version with the bundled model's files, which the traffic fits. */
const register = (metrics = goodMetrics()) =>
  registerVersion(mlflow.url, metrics, 'fraud-detector', goodModel());

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const hookEnv = () => ({
  MLFLOW_TRACKING_URI: mlflow.url,
  PROMETHEUS_URL: stack.prometheus.url,
  POLICY_FILE: policyFile,
  SCORE_SERVICE: SERVICE,
});

async function newHook(): Promise<void> {
  hook = testHook(hookEnv(), hookKubeconfig);
  hookUrl = await hook.start();
}

const callback = (version: string, eventId?: string) => {
  const request = airflowRequest(registered(version, eventId));
  return fetch(`${hookUrl}/airflow/events`, { method: 'POST', body: request.body, headers: request.headers });
};

/** The invariant of the issue: an alias never names a version that no revision serves. */
async function assertAliasesServed(t: { true: (v: boolean, m?: string) => void }) {
  const service = await getService();
  for (const alias of ['champion', 'challenger']) {
    const version = await aliasVersion(mlflow.url, alias);
    if (!version) continue;
    const served = (service.status?.traffic ?? []).some(
      (target) => target.revisionName === `${SERVICE}-model-v${version}` && (target.percent ?? 0) > 0,
    );
    t.true(served, `alias ${alias} → version ${version} must be served by a revision with traffic`);
  }
}

/** Answers the feeder got from a revision's real scorer, by HTTP status. */
const answersOf = (revision: string) => Object.fromEntries(stack.feeder.answers.get(revision) ?? []);

test.before(async (t) => {
  t.timeout(15 * 60_000, 'starting MLflow, kube-apiserver, Prometheus and the first scorer');
  policyFile = writePolicy(mkdtempSync(path.join(os.tmpdir(), 'retrain-hook-test-')), {
    traffic_percent: 10,
    ready_timeout_seconds: 20,
    observation_seconds: 6,
    poll_seconds: 1,
    max_error_rate: 0.05,
    max_p95_latency_ms: 100,
    require_traffic: true,
  });
  const mlflowStarted = startMlflow();
  // Like production traffic, a tenth of every revision's requests is bad input the scorers answer 400:
  // only a canary's excess over the champion's share may count against it.
  const stackStarted = startRolloutStack({ mlflowUrl: mlflowStarted.then((m) => m.url), badInputEvery: 10 });
  [mlflow, stack] = await Promise.all([mlflowStarted, stackStarted]);
  hookKubeconfig = stack.hookKubeconfig;
  await newHook();
});

// A failure names its cause: the end of MLflow's log (the usual suspect on a loaded machine) and the scorers'.
test.afterEach.always((t) => {
  if (t.passed) return;
  t.log(`MLflow log ${mlflow?.process.logFile}:\n${mlflow?.process.tail(40)}`);
  for (const pod of stack?.scorers.running() ?? [])
    t.log(
      `scorer ${pod.revision} (ready ${pod.ready}, ${pod.lastReason}) ${pod.process.logFile}:\n${pod.process.tail(10)}`,
    );
  t.log(
    `feeder answers: ${JSON.stringify([...(stack?.feeder.answers ?? [])].map(([r, m]) => [r, Object.fromEntries(m)]))}`,
  );
});

test.after.always(async () => {
  await hook?.stop();
  await Promise.all([stack?.stop(), mlflow?.stop()]);
});

test.serial(
  'a good first model is promoted once, though MLflow and Airflow both deliver it (twice)',
  async (t) => {
    // A real MLflow webhook: model_version.created reaches the hook as well as the Airflow callback.
    const webhook = await fetch(`${mlflow.url}/api/2.0/mlflow/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'retrain-hook',
        url: `${hookUrl}/mlflow/webhooks`,
        events: [{ entity: 'MODEL_VERSION', action: 'CREATED' }],
        secret: MLFLOW_SECRET,
      }),
    });
    t.is(webhook.status, 200, await webhook.clone().text());
    const version = await register();
    t.is(version, '1');
    const started = Date.now();
    const first = await callback(version, 'run-1');
    t.true([202].includes(first.status), await first.clone().text());
    const duplicate = await callback(version, 'run-1');
    t.is(duplicate.status, 200);
    t.true(((await duplicate.json()) as { duplicate: boolean }).duplicate);
    const again = await callback(version, 'run-1-retry');
    t.true([200, 202].includes(again.status));

    await until('canary routed', async () =>
      (await getService()).status?.traffic?.some((x) => x.tag === 'canary' && x.percent === 10),
    );
    await assertAliasesServed(t);
    // The hook's own error-rate query, read beside it: how close did the canary come to the limit?
    const errorRate = renderQuery(DEFAULT_QUERIES.errorRate, {
      revision: `${SERVICE}-model-v1`,
      namespace: NS,
      service: SERVICE,
    });
    let highest = 0;
    await until(
      'promotion',
      async () => {
        const [sample] = await stack.prometheus.query(errorRate).catch(() => []);
        if (Number.isFinite(Number(sample?.value[1]))) highest = Math.max(highest, Number(sample?.value[1]));
        return (
          (await getService()).status?.traffic?.[0]?.percent === 100 &&
          (await versionTags(mlflow.url, '1'))['rollout.state'] === 'promoted'
        );
      },
      90_000,
    );
    const seconds = (Date.now() - started) / 1000;
    const canary = answersOf(`${SERVICE}-model-v1`);
    t.true((canary[400] ?? 0) > 0, `the canary got bad input as the champion did: ${JSON.stringify(canary)}`);
    t.log(
      `highest canary error rate seen: ${highest.toFixed(4)} (limit 0.05), answers ${JSON.stringify(canary)}`,
    );
    const pod = stack.scorers.pod(`${SERVICE}-model-v1`);
    t.log(
      `callback → version 1 serving 100% and tagged promoted: ${seconds.toFixed(1)} s (observation window 6 s; its scorer took ${(((pod?.readyAt ?? 0) - (pod?.startedAt ?? 0)) / 1000).toFixed(1)} s to be ready)`,
    );
    await hook.rollout.settled();

    const tags = await versionTags(mlflow.url, '1');
    t.is(tags['gate.decision'], 'passed');
    t.deepEqual(JSON.parse(tags['gate.reasons'] ?? ''), []);
    t.is(tags['rollout.revision'], `${SERVICE}-model-v1`);
    t.is(await aliasVersion(mlflow.url, 'champion'), '1');
    t.is(await aliasVersion(mlflow.url, 'challenger'), undefined);
    const service = await getService();
    t.deepEqual(service.spec.traffic, [{ revisionName: `${SERVICE}-model-v1`, percent: 100 }]);
    t.is(
      service.spec.template.spec.containers[0]?.env?.find((e) => e.name === 'MODEL_URI')?.value,
      'models:/fraud-detector/1',
    );
    await assertAliasesServed(t);
    const metrics = await (await fetch(`${hookUrl}/metrics`)).text();
    t.regex(metrics, /^fraud_retrain_promotions_total 1$/m, 'one promotion despite four deliveries');
    t.regex(
      metrics,
      /fraud_retrain_events_total\{endpoint="mlflow",type="model_version\.created"\} 1/,
      'MLflow delivered its webhook',
    );
    await fetch(`${mlflow.url}/api/2.0/mlflow/webhooks`).then(async (r) => {
      const { webhooks } = (await r.json()) as { webhooks: { webhook_id: string }[] };
      for (const w of webhooks)
        await fetch(`${mlflow.url}/api/2.0/mlflow/webhooks/${w.webhook_id}`, { method: 'DELETE' });
    });
  },
);

test.serial('a worse model is rejected with reasons in its tags, and the Service is untouched', async (t) => {
  const before = await getService();
  const version = await registerVersion(
    mlflow.url,
    goodMetrics({
      pr_auc: 0.12,
      recall_at_target_precision: 0.01,
      champion_pr_auc: 0.82,
      champion_recall_at_target_precision: 0.7,
    }),
  );
  const response = await callback(version);
  t.is(response.status, 200);
  const body = (await response.json()) as { decision: string; reasons: string[] };
  t.is(body.decision, 'rejected');
  const tags = await versionTags(mlflow.url, version);
  t.is(tags['gate.decision'], 'rejected');
  t.is(tags['rollout.state'], 'rejected');
  const reasons = JSON.parse(tags['gate.reasons'] ?? '[]') as string[];
  t.deepEqual(reasons, body.reasons);
  t.true(reasons.some((r) => /pr_auc 0\.12 below the minimum/.test(r)));
  t.true(reasons.some((r) => /regresses .* champion/.test(r)));
  const after = await getService();
  t.deepEqual(after.spec, before.spec);
  t.is(await aliasVersion(mlflow.url, 'champion'), '1');
  const repeat = await callback(version);
  t.is(
    ((await repeat.json()) as { state: string }).state,
    'rejected',
    'a decided version is not decided again',
  );
});

test.serial(
  'a canary whose model rejects the traffic the champion serves is rolled back; a second version meanwhile gets 429',
  async (t) => {
    // Good training metrics and a valid, loadable model, but trained on other features than the
    // transactions in production: its real scorer answers them 400 while the champion answers 200.
    const version = await registerVersion(
      mlflow.url,
      goodMetrics({ champion_pr_auc: 0.8, champion_recall_at_target_precision: 0.7 }),
      'fraud-detector',
      otherFeaturesModel(),
    );
    t.is((await callback(version)).status, 202);
    const other = await register();
    const busy = await callback(other);
    t.is(busy.status, 429);
    t.is(busy.headers.get('retry-after'), '30');
    await until(
      'rollback',
      async () => (await versionTags(mlflow.url, version))['rollout.state'] === 'rolled_back',
      90_000,
    );
    await hook.rollout.settled();
    const tags = await versionTags(mlflow.url, version);
    t.regex(tags['rollout.reasons'] ?? '', /canary error rate [01]\.\d{4} above the maximum 0\.05/);
    const canary = answersOf(`${SERVICE}-model-v${version}`);
    t.true(
      (canary[400] ?? 0) > 0 && !canary[200],
      `the canary's scorer rejected the traffic: ${JSON.stringify(canary)}`,
    );
    t.true((answersOf(`${SERVICE}-model-v1`)[200] ?? 0) > 0, 'the champion served the same traffic');
    const service = await getService();
    t.deepEqual(service.spec.traffic, [{ revisionName: `${SERVICE}-model-v1`, percent: 100 }]);
    t.is(await aliasVersion(mlflow.url, 'champion'), '1');
    t.is(await aliasVersion(mlflow.url, 'challenger'), undefined);
    await assertAliasesServed(t);
    t.regex(
      await (await fetch(`${hookUrl}/metrics`)).text(),
      /fraud_retrain_rollbacks_total\{reason="error_rate"\} 1/,
    );
    // The busy version was never touched: it can be delivered again later.
    t.is((await versionTags(mlflow.url, other))['gate.decision'], undefined);
  },
);

test.serial(
  'MLflow stopped mid-promotion: nothing half-done, and the rollout finishes once it is back',
  async (t) => {
    const version = await register();
    t.is((await callback(version)).status, 202);
    await until('challenger set', async () => (await aliasVersion(mlflow.url, 'challenger')) === version);
    const { dataDir, port, webhookEncryptionKey } = mlflow;
    await mlflow.process.stop();
    // Well past the observation window: the hook must wait, not promote without the registry.
    await new Promise((r) => setTimeout(r, 9000));
    const during = await getService();
    t.true(
      during.spec.traffic?.some((x) => x.revisionName === `${SERVICE}-model-v${version}` && x.percent === 10),
      'still a 10% canary while MLflow is down',
    );
    t.truthy(hook.rollout.current, 'the rollout is still in progress');
    const down = await callback(String(Number(version) + 1));
    t.is(down.status, 429, 'one rollout at a time even while MLflow is down');
    const restartedAt = Date.now();
    const restarted = await startMlflow({ dataDir, port, webhookEncryptionKey });
    t.log(`MLflow back after ${((Date.now() - restartedAt) / 1000).toFixed(1)} s`);
    mlflow = {
      ...restarted,
      stop: async () => {
        await restarted.process.stop();
      },
    } as RunningMlflow;
    await until(
      'promotion after MLflow returned',
      async () => (await versionTags(mlflow.url, version))['rollout.state'] === 'promoted',
      120_000,
    );
    await hook.rollout.settled();
    t.is(await aliasVersion(mlflow.url, 'champion'), version);
    t.deepEqual((await getService()).spec.traffic, [
      { revisionName: `${SERVICE}-model-v${version}`, percent: 100 },
    ]);
    await assertAliasesServed(t);
    t.regex(
      await (await fetch(`${hookUrl}/metrics`)).text(),
      /fraud_retrain_dependency_errors_total\{dependency="mlflow"\} [1-9]/,
    );
  },
);

test.serial('a restarted hook recovers the interrupted rollout from the Service and the tags', async (t) => {
  const version = await register();
  t.is((await callback(version)).status, 202);
  await until(
    'canary state tagged',
    async () => (await versionTags(mlflow.url, version))['rollout.state'] === 'canary',
  );
  await hook.stop();
  t.true(
    (await getService()).spec.traffic?.some((x) => x.tag === 'canary'),
    'stopped with the canary in place',
  );
  await newHook();
  await until(
    'recovered and promoted',
    async () => (await versionTags(mlflow.url, version))['rollout.state'] === 'promoted',
    90_000,
  );
  await hook.rollout.settled();
  t.is(await aliasVersion(mlflow.url, 'champion'), version);
  t.deepEqual((await getService()).spec.traffic, [
    { revisionName: `${SERVICE}-model-v${version}`, percent: 100 },
  ]);
  t.regex(await (await fetch(`${hookUrl}/metrics`)).text(), /^fraud_retrain_promotions_total 1$/m);
  await assertAliasesServed(t);
});

test.serial(
  'a version whose artifact fails the sha256 check never becomes ready and is rolled back',
  async (t) => {
    const champion = await aliasVersion(mlflow.url, 'champion');
    const version = await registerVersion(mlflow.url, goodMetrics(), 'fraud-detector', damagedModel());
    t.is((await callback(version)).status, 202);
    await until(
      'rollback',
      async () => (await versionTags(mlflow.url, version))['rollout.state'] === 'rolled_back',
      60_000,
    );
    await hook.rollout.settled();
    t.regex(
      (await versionTags(mlflow.url, version))['rollout.reasons'] ?? '',
      /was not ready and serving within 20 s/,
    );
    const pod = stack.scorers.pod(`${SERVICE}-model-v${version}`);
    t.regex(pod?.lastReason ?? '', /sha256 mismatch/, 'the scorer refused the damaged model');
    t.is(answersOf(`${SERVICE}-model-v${version}`)[200], undefined, 'it never served a request');
    t.is(await aliasVersion(mlflow.url, 'champion'), champion);
    t.is(await aliasVersion(mlflow.url, 'challenger'), undefined);
    t.deepEqual((await getService()).spec.traffic, [
      { revisionName: `${SERVICE}-model-v${champion}`, percent: 100 },
    ]);
  },
);

test.serial('the hook runs with its least-privilege RBAC: it cannot touch any other Service', async (t) => {
  await stack.cp.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'other', namespace: NS },
      spec: {
        template: { spec: { containers: [{ image: `registry.local/other@sha256:${'1'.repeat(64)}` }] } },
      },
    }),
  );
  const { ScoreServiceClient } = await import('../src/knative.ts');
  const asHook = new ScoreServiceClient(kubeConfigFrom(hookKubeconfig), NS, 'other');
  const error = await t.throwsAsync(() => asHook.get());
  t.regex(error?.message ?? '', /not allowed .* check the hook's RBAC/);
  const score = new ScoreServiceClient(kubeConfigFrom(hookKubeconfig), NS, SERVICE);
  t.is((await score.get()).metadata.name, SERVICE);
});

test.serial(
  'Kubernetes API unreachable: 503 after retries, gate recorded, nothing rolled out, no alias moved',
  async (t) => {
    const champion = await aliasVersion(mlflow.url, 'champion');
    const before = await getService();
    const version = await register();
    const cut = testHook(hookEnv()); // no kubeconfig: the API server is a closed port
    try {
      const request = airflowRequest(registered(version));
      const response = await cut.app.inject({
        method: 'POST',
        url: '/airflow/events',
        payload: request.body,
        headers: request.headers,
      });
      t.is(response.statusCode, 503);
      t.regex(response.json().error, /^kubernetes unavailable: Kubernetes API unreachable/);
      const tags = await versionTags(mlflow.url, version);
      t.is(tags['gate.decision'], 'passed');
      t.is(tags['rollout.state'], undefined, 'no rollout started');
      t.is(await aliasVersion(mlflow.url, 'champion'), champion);
      t.is(await aliasVersion(mlflow.url, 'challenger'), undefined);
      t.deepEqual((await getService()).spec, before.spec);
    } finally {
      await cut.stop();
    }
  },
);
