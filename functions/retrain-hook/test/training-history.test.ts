// The last training success and failure survive a restart of the hook: they live in a real MLflow (the
// version's registration time; tags the hook writes on the registered model) and are read back on start.
// Kubernetes points at a closed port: nothing here needs it, and start() must not wait for it either.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RunningMlflow, startMlflow } from '@fraud/testkit/mlflow';
import { freePort } from '@fraud/testkit/ports';
import test from 'ava';
import { FAILURE_AT_TAG, FAILURE_RUN_TAG } from '../src/training-history.ts';
import { testHook } from './helpers/hook.ts';
import { goodMetrics, registerVersion } from './helpers/registry.ts';
import { airflowRequest } from './helpers/signed.ts';

const SUCCESS = 'fraud_retrain_last_training_success_timestamp_seconds';
const FAILURE = 'fraud_retrain_last_training_failure_timestamp_seconds';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hook-history-mlflow-'));
const port = await freePort();
let mlflow: RunningMlflow | undefined = await startMlflow({ dataDir, port });
const url = mlflow.url;

test.after.always(async () => {
  await mlflow?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

type TestHook = ReturnType<typeof testHook>;

/** A hook for one registered model, started as in production (listen, then background work). */
async function startedHook(modelName: string): Promise<TestHook> {
  const hook = testHook({ MLFLOW_TRACKING_URI: url, MODEL_NAME: modelName, LOG_LEVEL: 'error' });
  await hook.start();
  const stop = once(() => hook.stop());
  running.add(stop);
  return { ...hook, stop };
}

const running = new Set<() => Promise<void>>();
test.afterEach.always(async () => {
  for (const stop of running) await stop();
  running.clear();
});

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= fn();
    return done;
  };
}

async function gauges(hook: TestHook) {
  const text = (await hook.app.inject('/metrics')).body;
  const value = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1]);
  const errors = text.match(/^fraud_retrain_dependency_errors_total\{dependency="mlflow"\} (\S+)$/m);
  return { success: value(SUCCESS), failure: value(FAILURE), mlflowErrors: Number(errors?.[1] ?? 0) };
}

async function eventually<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000) {
  const deadline = Date.now() + ms;
  let last: T = await read();
  while (!ok(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}

async function mlflowGet(pathAndQuery: string) {
  const response = await fetch(`${url}/api/2.0/mlflow/${pathAndQuery}`);
  if (!response.ok)
    throw new Error(`MLflow GET ${pathAndQuery}: ${response.status} ${await response.text()}`);
  return response.json() as Promise<Record<string, Record<string, unknown>>>;
}

async function registrationSeconds(name: string, version: string): Promise<number> {
  const body = await mlflowGet(`model-versions/get?name=${name}&version=${version}`);
  return Number(body.model_version?.creation_timestamp) / 1000;
}

/** The registered model's tags; none while it does not exist. */
async function modelTags(name: string): Promise<Record<string, string>> {
  const response = await fetch(`${url}/api/2.0/mlflow/registered-models/get?name=${name}`);
  if (response.status === 404) return {};
  if (!response.ok)
    throw new Error(`MLflow registered-models/get: ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { registered_model?: { tags?: unknown } };
  const tags = (body.registered_model?.tags ?? []) as { key: string; value: string }[];
  return Object.fromEntries(tags.map((t) => [t.key, t.value]));
}

async function reportFailure(hook: TestHook, eventId: string) {
  const request = airflowRequest({
    event_id: eventId,
    type: 'training.failed',
    dag_id: 'fraud_retrain',
    dag_run_id: 'scheduled__2026-11-28',
    task_id: 'train',
    error: 'boom',
  });
  const response = await hook.app.inject({
    method: 'POST',
    url: '/airflow/events',
    payload: request.body,
    headers: request.headers,
  });
  if (response.statusCode !== 202)
    throw new Error(`training.failed answered ${response.statusCode}: ${response.body}`);
}

test.serial(
  'a failure after the last success is still the last word after a restart; a new version ends it',
  async (t) => {
    t.timeout(5 * 60_000);
    const model = 'history-a';
    const v1 = await registerVersion(url, goodMetrics(), model);
    const v1At = await registrationSeconds(model, v1);

    const first = await startedHook(model);
    await eventually(
      'the success restored',
      () => gauges(first),
      (g) => g.success === v1At,
    );
    t.is((await gauges(first)).failure, 0, 'no failure recorded yet');

    await reportFailure(first, 'history-a-fail-1');
    const failedAt = (await gauges(first)).failure;
    t.true(failedAt > v1At, 'the gauge is set at once');
    const tags = await eventually(
      'the failure stored in MLflow',
      () => modelTags(model),
      (x) => FAILURE_AT_TAG in x,
    );
    t.is(Number(tags[FAILURE_AT_TAG]), failedAt);
    t.is(tags[FAILURE_RUN_TAG], 'fraud_retrain/scheduled__2026-11-28/train');
    await first.stop();

    // A new process: the gauges start at 0 and are raised to what MLflow holds, so the alert condition
    // (failure newer than success) holds again without Airflow saying anything.
    const second = await startedHook(model);
    const restored = await eventually(
      'both restored',
      () => gauges(second),
      (g) => g.failure > 0 && g.success > 0,
    );
    t.deepEqual(restored, { success: v1At, failure: failedAt, mlflowErrors: 0 });
    await second.stop();

    // The next run succeeds: its version is newer than the failure, so after a restart nothing is failing.
    const v2 = await registerVersion(url, goodMetrics(), model);
    const v2At = await registrationSeconds(model, v2);
    t.true(v2At > failedAt);
    const third = await startedHook(model);
    const after = await eventually(
      'the newer success restored',
      () => gauges(third),
      (g) => g.success === v2At,
    );
    t.is(after.failure, failedAt);
    t.true(after.success > after.failure);
  },
);

test.serial(
  'a failure before any version exists registers the model to keep it; no success is invented',
  async (t) => {
    t.timeout(5 * 60_000);
    const model = 'history-b';
    const first = await startedHook(model);
    await reportFailure(first, 'history-b-fail-1');
    const failedAt = (await gauges(first)).failure;
    await eventually(
      'the failure stored in MLflow',
      () => modelTags(model),
      (x) => FAILURE_AT_TAG in x,
    );
    await first.stop();

    const second = await startedHook(model);
    const restored = await eventually(
      'the failure restored',
      () => gauges(second),
      (g) => g.failure > 0,
    );
    t.is(restored.failure, failedAt);
    t.is(restored.success, 0);
  },
);

test.serial(
  'a model nobody registered yet: the restore finds nothing and leaves the gauges at 0',
  async (t) => {
    const hook = await startedHook('history-none');
    const restored = await hook.history.restore();
    t.deepEqual(restored, { successAt: undefined, failureAt: undefined });
    t.like(await gauges(hook), { success: 0, failure: 0 });
  },
);

test.serial(
  'MLflow down at start: the hook is ready at once and fills the gauges in once MLflow is back',
  async (t) => {
    t.timeout(5 * 60_000);
    const model = 'history-c';
    const v1 = await registerVersion(url, goodMetrics(), model);
    const v1At = await registrationSeconds(model, v1);
    const seed = await startedHook(model);
    await reportFailure(seed, 'history-c-fail-1');
    const failedAt = (await gauges(seed)).failure;
    await eventually(
      'the failure stored in MLflow',
      () => modelTags(model),
      (x) => FAILURE_AT_TAG in x,
    );
    await seed.stop();

    await mlflow?.stop();
    mlflow = undefined;
    const hook = await startedHook(model);
    t.is((await hook.app.inject('/health/readiness')).statusCode, 200);
    // It keeps trying in the background (each failed attempt counted) and exports 0 meanwhile.
    const waiting = await eventually(
      'retries against the stopped MLflow',
      () => gauges(hook),
      (g) => g.mlflowErrors >= 2,
    );
    t.like(waiting, { success: 0, failure: 0 });

    mlflow = await startMlflow({ dataDir, port });
    const restored = await eventually(
      'both restored after MLflow came back',
      () => gauges(hook),
      (g) => g.failure > 0 && g.success > 0,
      120_000,
    );
    t.like(restored, { success: v1At, failure: failedAt });
  },
);
