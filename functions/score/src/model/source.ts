// Where the model comes from: a local folder or the MLflow registry (REST only, no Python).
// Whatever the source, model.onnx must hash to the sha256 in its card before it is used.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ModelCard, parseModelCard } from './card.ts';

export interface LoadedModel {
  card: ModelCard;
  onnxPath: string;
  sha256: string;
  /** Where it came from, for logs and /v2 metadata. */
  origin: string;
}

/** A failure that retrying will not fix (bad card, checksum mismatch, unknown model): stay not-ready. */
export class PermanentModelError extends Error {}

export type ModelUri =
  | { kind: 'local'; dir: string }
  | { kind: 'mlflow-alias'; name: string; alias: string }
  | { kind: 'mlflow-version'; name: string; version: string };

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Parses MODEL_URI: `models:/<name>@<alias>`, `models:/<name>/<version>` or a folder path. */
export function parseModelUri(uri: string): ModelUri {
  if (!uri.startsWith('models:/')) {
    if (uri.includes('://'))
      throw new PermanentModelError(`MODEL_URI ${uri}: only local folders and models:/ URIs`);
    return { kind: 'local', dir: path.resolve(uri) };
  }
  const rest = uri.slice('models:/'.length);
  const alias = rest.match(/^([^/@]+)@([^/@]+)$/);
  if (alias?.[1] && alias[2] && NAME.test(alias[1]) && NAME.test(alias[2]))
    return { kind: 'mlflow-alias', name: alias[1], alias: alias[2] };
  const version = rest.match(/^([^/@]+)\/([1-9][0-9]{0,9})$/);
  if (version?.[1] && version[2] && NAME.test(version[1]))
    return { kind: 'mlflow-version', name: version[1], version: version[2] };
  throw new PermanentModelError(
    `MODEL_URI ${uri} is not models:/<name>@<alias> or models:/<name>/<version> (numeric version)`,
  );
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function readCard(file: string): Promise<ModelCard> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PermanentModelError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return parseModelCard(JSON.parse(text));
  } catch (err) {
    throw new PermanentModelError(`${file}: ${(err as Error).message}`);
  }
}

async function verified(card: ModelCard, onnxPath: string, origin: string): Promise<LoadedModel> {
  let actual: string;
  try {
    actual = await sha256File(onnxPath);
  } catch (err) {
    throw new PermanentModelError(`cannot read ${onnxPath}: ${(err as Error).message}`);
  }
  if (actual !== card.onnx.sha256)
    throw new PermanentModelError(
      `sha256 mismatch for ${origin}: model card says ${card.onnx.sha256}, ${card.onnx.file} hashes to ${actual}`,
    );
  return { card, onnxPath, sha256: actual, origin };
}

export async function loadLocalModel(dir: string): Promise<LoadedModel> {
  const card = await readCard(path.join(dir, 'model-card.json'));
  return verified(card, path.join(dir, card.onnx.file), dir);
}

/** Talks to MLflow's REST API; errors say which call failed and how. */
class MlflowClient {
  constructor(private readonly base: string) {}

  private async get(url: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
    } catch (err) {
      throw new Error(`MLflow unreachable at ${url}: ${(err as Error).message}`);
    }
    if (res.ok) return res;
    const body = (await res.text()).slice(0, 300);
    // Even "not found" is worth retrying: the alias may be set (or the version finish uploading) later,
    // and until then the scorer stays not-ready with this message, never serving anything else.
    throw new Error(`MLflow ${url} answered ${res.status}: ${body}`);
  }

  async versionOfAlias(name: string, alias: string): Promise<string> {
    const q = new URLSearchParams({ name, alias });
    const json = (await (
      await this.get(`${this.base}/api/2.0/mlflow/registered-models/alias?${q}`)
    ).json()) as {
      model_version?: { version?: string };
    };
    const version = String(json.model_version?.version ?? '');
    // The version becomes a cache path component: only plain version numbers are accepted.
    if (!/^[1-9][0-9]{0,9}$/.test(version))
      throw new Error(
        `MLflow alias ${name}@${alias} points to ${JSON.stringify(version)}, not a version number`,
      );
    return version;
  }

  async checkVersion(name: string, version: string): Promise<void> {
    const q = new URLSearchParams({ name, version });
    await this.get(`${this.base}/api/2.0/mlflow/model-versions/get?${q}`);
  }

  async artifact(name: string, version: string, file: string): Promise<Buffer> {
    const q = new URLSearchParams({ name, version, path: file });
    const res = await this.get(`${this.base}/model-versions/get-artifact?${q}`);
    return Buffer.from(await res.arrayBuffer());
  }
}

/**
 * Resolves a registry model to a version, then serves it from MODEL_CACHE_DIR/<name>/<version>/ when the
 * cached file still matches its card, else downloads card and ONNX, verifies, and only then moves them in.
 */
export async function loadMlflowModel(
  uri: Exclude<ModelUri, { kind: 'local' }>,
  trackingUri: string,
  cacheDir: string,
): Promise<LoadedModel> {
  const client = new MlflowClient(trackingUri.replace(/\/+$/, ''));
  const version =
    uri.kind === 'mlflow-alias' ? await client.versionOfAlias(uri.name, uri.alias) : uri.version;
  if (uri.kind === 'mlflow-version') await client.checkVersion(uri.name, version);
  const origin = `models:/${uri.name}/${version}${uri.kind === 'mlflow-alias' ? ` (@${uri.alias})` : ''}`;
  const dir = path.join(cacheDir, uri.name, version);

  try {
    const cached = await loadLocalModel(dir);
    return { ...cached, card: { ...cached.card, version }, origin: `${origin} [cache ${dir}]` };
  } catch {
    // not cached yet, or the cached copy is damaged: download again
  }

  const cardBytes = await client.artifact(uri.name, version, 'model-card.json');
  let card: ModelCard;
  try {
    card = parseModelCard(JSON.parse(cardBytes.toString('utf8')));
  } catch (err) {
    throw new PermanentModelError(`${origin} model-card.json: ${(err as Error).message}`);
  }
  const onnx = await client.artifact(uri.name, version, card.onnx.file);
  const actual = createHash('sha256').update(onnx).digest('hex');
  if (actual !== card.onnx.sha256)
    throw new PermanentModelError(
      `sha256 mismatch for ${origin}: model card says ${card.onnx.sha256}, downloaded ${card.onnx.file} hashes to ${actual}`,
    );

  await mkdir(cacheDir, { recursive: true });
  const staging = path.join(cacheDir, `.staging-${process.pid}-${Date.now()}`);
  await mkdir(staging, { recursive: true });
  try {
    await writeFile(path.join(staging, card.onnx.file), onnx);
    await writeFile(path.join(staging, 'model-card.json'), cardBytes);
    await mkdir(path.dirname(dir), { recursive: true });
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { card: { ...card, version }, onnxPath: path.join(dir, card.onnx.file), sha256: actual, origin };
}

export async function loadModel(
  modelUri: string,
  trackingUri: string | undefined,
  cacheDir: string,
): Promise<LoadedModel> {
  const uri = parseModelUri(modelUri);
  if (uri.kind === 'local') return loadLocalModel(uri.dir);
  if (!trackingUri) throw new PermanentModelError(`MODEL_URI ${modelUri} needs MLFLOW_TRACKING_URI`);
  return loadMlflowModel(uri, trackingUri, cacheDir);
}
