// Registers model versions in a real MLflow server over REST, the way the training pipeline's files end up
// there: a run holds model.onnx + model-card.json under artifacts/model, a registry version points at it.
export async function mlflowJson<T = Record<string, unknown>>(
  base: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(base + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`MLflow ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** Creates a run with the files as its artifacts/model and a new version of `name` from it; returns the version. */
export async function registerVersion(
  base: string,
  name: string,
  files: Record<string, Buffer>,
): Promise<string> {
  const run = await mlflowJson<{ run: { info: { run_id: string; artifact_uri: string } } }>(
    base,
    '/api/2.0/mlflow/runs/create',
    { experiment_id: '0' },
  );
  const { run_id, artifact_uri } = run.run.info;
  const relative = artifact_uri.replace(/^mlflow-artifacts:\//, '');
  for (const [file, bytes] of Object.entries(files)) {
    const res = await fetch(`${base}/api/2.0/mlflow-artifacts/artifacts/${relative}/model/${file}`, {
      method: 'PUT',
      body: bytes,
    });
    if (!res.ok) throw new Error(`upload of ${file} answered ${res.status}`);
  }
  try {
    await mlflowJson(base, '/api/2.0/mlflow/registered-models/create', { name });
  } catch (err) {
    if (!String(err).includes('RESOURCE_ALREADY_EXISTS')) throw err;
  }
  const created = await mlflowJson<{ model_version: { version: string } }>(
    base,
    '/api/2.0/mlflow/model-versions/create',
    { name, source: `${artifact_uri}/model`, run_id },
  );
  return created.model_version.version;
}

export async function setAlias(base: string, name: string, alias: string, version: string): Promise<void> {
  await mlflowJson(base, '/api/2.0/mlflow/registered-models/alias', { name, alias, version });
}
