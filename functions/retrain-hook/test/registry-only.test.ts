// ROLLOUT_TARGET=none (no Kubernetes, e.g. the local learning drill): a real MLflow server, the hook's real
// HTTP endpoint and signed Airflow callbacks. A passing version is promoted in MLflow only (alias champion,
// tags), a failing one rejected; Kubernetes points at a closed port, so any call to it would answer 503.
import { type RunningMlflow, startMlflow } from '@fraud/testkit/mlflow';
import test from 'ava';
import { ConfigError, loadConfig } from '../src/config.ts';
import { testHook } from './helpers/hook.ts';
import { aliasVersion, goodMetrics, registerVersion, versionTags } from './helpers/registry.ts';
import { AIRFLOW_SECRET, airflowRequest, injectRegistered, registered } from './helpers/signed.ts';

let mlflow: RunningMlflow;
let hook: ReturnType<typeof testHook>;
let hookUrl: string;
test.before(async () => {
  mlflow = await startMlflow();
  hook = testHook({ MLFLOW_TRACKING_URI: mlflow.url, ROLLOUT_TARGET: 'none', LOG_LEVEL: 'error' });
  // Started as in production: recover() runs in the background and must not wait for a Kubernetes.
  hookUrl = await hook.start();
});
test.after.always(async () => {
  await hook?.stop();
  await mlflow?.stop();
});

async function callback(version: string) {
  const request = airflowRequest(registered(version));
  const response = await fetch(`${hookUrl}/airflow/events`, {
    method: 'POST',
    headers: request.headers,
    body: request.body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test('ROLLOUT_TARGET is knative by default, none on request, anything else refused by name', (t) => {
  const base = { AIRFLOW_HMAC_SECRET: AIRFLOW_SECRET, MLFLOW_TRACKING_URI: mlflow.url };
  t.is(loadConfig(base).rolloutTarget, 'knative');
  t.is(loadConfig({ ...base, ROLLOUT_TARGET: 'none' }).rolloutTarget, 'none');
  const error = t.throws(() => loadConfig({ ...base, ROLLOUT_TARGET: 'kubernetes' }), {
    instanceOf: ConfigError,
  });
  t.regex(error.message, /ROLLOUT_TARGET must be one of knative, none \(got "kubernetes"\)/);
});

test.serial(
  'a passing version is promoted in MLflow only; the next one replaces it as champion',
  async (t) => {
    const first = await registerVersion(mlflow.url, goodMetrics());
    const answer = await callback(first);
    t.is(answer.status, 200, JSON.stringify(answer.body));
    t.like(answer.body, { decision: 'passed', rollout: 'promoted', target: 'none', version: first });
    t.is(await aliasVersion(mlflow.url, 'champion'), first);
    t.is(await aliasVersion(mlflow.url, 'challenger'), undefined, 'no canary, so no challenger');
    const tags = await versionTags(mlflow.url, first);
    t.like(tags, {
      'gate.decision': 'passed',
      'rollout.state': 'promoted',
      'rollout.target': 'none',
      'rollout.previous_version': '',
    });
    t.falsy(tags['rollout.revision'], 'no Knative revision');
    t.true(Date.parse(tags['rollout.finished_at'] ?? '') >= Date.parse(tags['rollout.started_at'] ?? ''));

    const second = await registerVersion(
      mlflow.url,
      goodMetrics({ pr_auc: 0.9, champion_pr_auc: 0.82, champion_recall_at_target_precision: 0.7 }),
    );
    const next = await callback(second);
    t.like(next.body, { rollout: 'promoted', version: second, previous: first });
    t.is(await aliasVersion(mlflow.url, 'champion'), second);
    t.like(await versionTags(mlflow.url, second), { 'rollout.previous_version': first });

    const again = await callback(second); // another event for the same version: already decided
    t.is(again.status, 200);
    t.like(again.body, { duplicate: true, state: 'promoted' });
    const metrics = await (await fetch(`${hookUrl}/metrics`)).text();
    t.regex(metrics, /^fraud_retrain_promotions_total 2$/m);
  },
);

test.serial('a failing version is rejected with reasons and the champion stays', async (t) => {
  const champion = await aliasVersion(mlflow.url, 'champion');
  t.truthy(champion, 'the previous test left a champion');
  const bad = await registerVersion(mlflow.url, goodMetrics({ pr_auc: 0.12, validation_passed: 0 }));
  const answer = await callback(bad);
  t.is(answer.status, 200);
  t.like(answer.body, { decision: 'rejected', version: bad });
  t.is(await aliasVersion(mlflow.url, 'champion'), champion);
  const tags = await versionTags(mlflow.url, bad);
  t.is(tags['rollout.state'], 'rejected');
  t.regex(tags['gate.reasons'] ?? '', /pr_auc 0\.12 below the minimum/);
});

test.serial(
  'with the default target the same passing version needs Kubernetes: 503, champion unmoved',
  async (t) => {
    // The contrast that makes the mode matter: knative (default) with Kubernetes on a closed port.
    const knative = testHook({ MLFLOW_TRACKING_URI: mlflow.url, LOG_LEVEL: 'fatal' });
    t.teardown(() => knative.stop());
    const champion = await aliasVersion(mlflow.url, 'champion');
    const version = await registerVersion(mlflow.url, goodMetrics({ pr_auc: 0.95 }));
    const response = await injectRegistered(knative.app, version);
    t.is(response.statusCode, 503, response.body);
    t.regex(response.json().error, /^kubernetes unavailable/);
    t.is(await aliasVersion(mlflow.url, 'champion'), champion);
  },
);
