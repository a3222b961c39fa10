// The learning drill's reads and writes in the real MLflow registry (REST; the hook's own MlflowRegistry where it
// has the call): the bundled model registered
// as the first version and made `champion` (what the scorer serves at the start and what the DAG's
// fetch_champion judges on the same holdout), then what the DAG and the retrain-hook wrote there.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MlflowRegistry } from '../../functions/retrain-hook/src/mlflow.ts';

export const MODEL_NAME = 'fraud-detector';

/** POST to MLflow's REST API for the two calls the hook's client has no use for (runs/create, model-versions/create). */
async function post<T>(base: string, apiPath: string, body: unknown): Promise<T> {
  const response = await fetch(`${base}/api/2.0/mlflow/${apiPath}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`MLflow POST ${apiPath}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text || '{}') as T;
}

/**
 * Registers a model folder (model.onnx + model-card.json, as the DAG lays them out at the model's root) as a
 * new version from a run of its own, and points `champion` at it. No training profile: the DAG's validate
 * then checks no drift against it, as for any champion registered by hand (airflow/README.md).
 */
export async function registerChampion(base: string, modelDir: string): Promise<string> {
  const { run } = await post<{ run: { info: { run_id: string; artifact_uri: string } } }>(
    base,
    'runs/create',
    {
      experiment_id: '0',
      run_name: 'bundled-model',
      start_time: Date.now(),
    },
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
  const registry = new MlflowRegistry(base);
  await registry.createModel(MODEL_NAME);
  const { model_version } = await post<{ model_version: { version: string } }>(
    base,
    'model-versions/create',
    {
      name: MODEL_NAME,
      source: `${run.info.artifact_uri}/model`,
      run_id: run.info.run_id,
    },
  );
  const version = String(model_version.version);
  await registry.setAlias(MODEL_NAME, 'champion', version);
  return version;
}

export async function aliasVersion(base: string, alias: string): Promise<string | undefined> {
  return (await new MlflowRegistry(base).getAlias(MODEL_NAME, alias))?.version;
}

export interface VersionRecord {
  version: string;
  runId: string | undefined;
  tags: Record<string, string>;
  /** The training run's metrics: what the hook's gate read. */
  metrics: Record<string, number>;
}

/** The newest registered version with its tags and its training run's metrics. */
export async function latestVersion(base: string): Promise<VersionRecord> {
  const registry = new MlflowRegistry(base);
  const versions = await registry.listVersions(MODEL_NAME);
  const newest = versions.reduce((a, b) => (Number(b.version) > Number(a.version) ? b : a));
  const metrics = newest.runId ? await registry.runMetrics(newest.runId) : {};
  return { version: newest.version, runId: newest.runId, tags: newest.tags, metrics };
}

/** A JSON file at a version's model root (e.g. evaluation-report.json), by the scorer's download route. */
export async function versionJson(base: string, version: string, file: string): Promise<unknown> {
  const q = new URLSearchParams({ name: MODEL_NAME, version, path: file });
  const response = await fetch(`${base}/model-versions/get-artifact?${q}`);
  if (!response.ok) throw new Error(`MLflow get-artifact ${file} of v${version}: HTTP ${response.status}`);
  return response.json();
}
