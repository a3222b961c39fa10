// The learning drill's reads and writes in the real MLflow registry (REST only): the bundled model registered
// as the first version and made `champion` (what the scorer serves at the start and what the DAG's
// fetch_champion judges on the same holdout), then what the DAG and the retrain-hook wrote there.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const MODEL_NAME = 'fraud-detector';

async function call<T>(base: string, method: 'GET' | 'POST', apiPath: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}/api/2.0/mlflow/${apiPath}`, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok)
    throw new Error(`MLflow ${method} ${apiPath}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text || '{}') as T;
}

/**
 * Registers a model folder (model.onnx + model-card.json, as the DAG lays them out at the model's root) as a
 * new version from a run of its own, and points `champion` at it. No training profile: the DAG's validate
 * then checks no drift against it, as for any champion registered by hand (airflow/README.md).
 */
export async function registerChampion(base: string, modelDir: string): Promise<string> {
  const { run } = await call<{ run: { info: { run_id: string; artifact_uri: string } } }>(
    base,
    'POST',
    'runs/create',
    { experiment_id: '0', run_name: 'bundled-model', start_time: Date.now() },
  );
  const where = run.info.artifact_uri.replace(/^mlflow-artifacts:\//, '');
  for (const file of ['model.onnx', 'model-card.json']) {
    const response = await fetch(`${base}/api/2.0/mlflow-artifacts/artifacts/${where}/model/${file}`, {
      method: 'PUT',
      body: readFileSync(path.join(modelDir, file)),
    });
    if (!response.ok)
      throw new Error(`MLflow upload of ${file}: HTTP ${response.status} ${await response.text()}`);
  }
  await call(base, 'POST', 'registered-models/create', { name: MODEL_NAME });
  const { model_version } = await call<{ model_version: { version: string } }>(
    base,
    'POST',
    'model-versions/create',
    {
      name: MODEL_NAME,
      source: `${run.info.artifact_uri}/model`,
      run_id: run.info.run_id,
    },
  );
  await call(base, 'POST', 'registered-models/alias', {
    name: MODEL_NAME,
    alias: 'champion',
    version: model_version.version,
  });
  return String(model_version.version);
}

export async function aliasVersion(base: string, alias: string): Promise<string | undefined> {
  const q = new URLSearchParams({ name: MODEL_NAME, alias });
  const response = await fetch(`${base}/api/2.0/mlflow/registered-models/alias?${q}`);
  if (!response.ok) return undefined;
  return String(((await response.json()) as { model_version: { version: string } }).model_version.version);
}

export interface VersionRecord {
  version: string;
  runId: string;
  tags: Record<string, string>;
  /** The training run's metrics: what the hook's gate read. */
  metrics: Record<string, number>;
}

/** The newest registered version with its tags and its training run's metrics. */
export async function latestVersion(base: string): Promise<VersionRecord> {
  const q = new URLSearchParams({ filter: `name='${MODEL_NAME}'` });
  const { model_versions } = await call<{
    model_versions: { version: string; run_id: string; tags?: { key: string; value: string }[] }[];
  }>(base, 'GET', `model-versions/search?${q}`);
  const newest = model_versions.reduce((a, b) => (Number(b.version) > Number(a.version) ? b : a));
  const { run } = await call<{ run: { data: { metrics?: { key: string; value: number }[] } } }>(
    base,
    'GET',
    `runs/get?run_id=${newest.run_id}`,
  );
  return {
    version: String(newest.version),
    runId: newest.run_id,
    tags: Object.fromEntries((newest.tags ?? []).map((t) => [t.key, t.value])),
    metrics: Object.fromEntries((run.data.metrics ?? []).map((m) => [m.key, m.value])),
  };
}

/** A JSON file at a version's model root (e.g. evaluation-report.json), by the scorer's download route. */
export async function versionJson(base: string, version: string, file: string): Promise<unknown> {
  const q = new URLSearchParams({ name: MODEL_NAME, version, path: file });
  const response = await fetch(`${base}/model-versions/get-artifact?${q}`);
  if (!response.ok) throw new Error(`MLflow get-artifact ${file} of v${version}: HTTP ${response.status}`);
  return response.json();
}
