// Puts training runs and model versions into a real MLflow server over REST, the way the DAG would.
const call = async (url: string, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${url}/api/2.0/mlflow/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`MLflow ${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text || '{}');
};

/**
 * A training run with the gate's metrics and, when given, the model files under its artifacts/model (where
 * the DAG logs model.onnx and model-card.json), and a registered version from it.
 */
export async function registerVersion(
  url: string,
  metrics: Record<string, number>,
  name = 'fraud-detector',
  files?: Record<string, Buffer>,
): Promise<string> {
  const { run } = await call(url, 'POST', 'runs/create', { experiment_id: '0', start_time: Date.now() });
  const runId = run.info.run_id as string;
  const artifactUri = run.info.artifact_uri as string;
  for (const [file, bytes] of Object.entries(files ?? {})) {
    const where = `${artifactUri.replace(/^mlflow-artifacts:\//, '')}/model/${file}`;
    const response = await fetch(`${url}/api/2.0/mlflow-artifacts/artifacts/${where}`, {
      method: 'PUT',
      body: new Uint8Array(bytes),
    });
    if (!response.ok)
      throw new Error(`MLflow upload of ${file}: ${response.status} ${await response.text()}`);
  }
  const timestamp = Date.now();
  await call(url, 'POST', 'runs/log-batch', {
    run_id: runId,
    metrics: Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp, step: 0 })),
  });
  await call(url, 'POST', 'registered-models/create', { name }).catch((e: Error) => {
    if (!/RESOURCE_ALREADY_EXISTS/.test(e.message)) throw e;
  });
  const { model_version } = await call(url, 'POST', 'model-versions/create', {
    name,
    source: files ? `${artifactUri}/model` : `runs:/${runId}/model`,
    run_id: runId,
  });
  return String(model_version.version);
}

export async function versionTags(
  url: string,
  version: string,
  name = 'fraud-detector',
): Promise<Record<string, string>> {
  const { model_version } = await call(url, 'GET', `model-versions/get?name=${name}&version=${version}`);
  return Object.fromEntries(
    (model_version.tags ?? []).map((t: { key: string; value: string }) => [t.key, t.value]),
  );
}

export async function aliasVersion(
  url: string,
  alias: string,
  name = 'fraud-detector',
): Promise<string | undefined> {
  const response = await fetch(`${url}/api/2.0/mlflow/registered-models/alias?name=${name}&alias=${alias}`);
  if (!response.ok) return undefined;
  return String(((await response.json()) as { model_version: { version: string } }).model_version.version);
}

export const goodMetrics = (overrides: Record<string, number> = {}) => ({
  pr_auc: 0.82,
  recall_at_target_precision: 0.7,
  onnx_latency_p95_ms: 0.4,
  parity_passed: 1,
  validation_passed: 1,
  ...overrides,
});
