import { UnavailableError } from './retry.ts';

export interface ModelVersion {
  name: string;
  version: string;
  runId: string | undefined;
  tags: Record<string, string>;
  aliases: string[];
  /** When the version was registered (Unix ms), if MLflow said. */
  createdAtMs: number | undefined;
}

/** MLflow answered, and the answer is a client error (unknown version, bad argument). Not retried. */
export class MlflowRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'MlflowRequestError';
  }
}

interface RawVersion {
  name: string;
  version: string;
  run_id?: string;
  tags?: { key: string; value: string }[];
  aliases?: string[];
  creation_timestamp?: number | string;
}

const tagsOf = (tags: { key: string; value: string }[] | undefined) =>
  Object.fromEntries((tags ?? []).map((t) => [t.key, t.value]));

// int64 fields may arrive as JSON numbers or as decimal strings (protobuf JSON): accept both.
const millis = (value: number | string | undefined) =>
  value !== undefined && value !== '' && Number.isFinite(Number(value)) ? Number(value) : undefined;

const toVersion = (raw: RawVersion): ModelVersion => ({
  name: raw.name,
  version: String(raw.version),
  runId: raw.run_id || undefined,
  tags: tagsOf(raw.tags),
  aliases: raw.aliases ?? [],
  createdAtMs: millis(raw.creation_timestamp),
});

/** The few registry calls the hook needs, over MLflow's REST API (no Python, no SDK). */
export class MlflowRegistry {
  private readonly base: string;

  constructor(
    trackingUri: string,
    private readonly timeoutMs = 5000,
  ) {
    this.base = `${trackingUri.replace(/\/+$/, '')}/api/2.0/mlflow`;
  }

  private async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, payload?: unknown): Promise<T> {
    let url = `${this.base}/${path}`;
    const init: RequestInit = { method, signal: AbortSignal.timeout(this.timeoutMs) };
    if (method === 'GET' && payload) {
      url += `?${new URLSearchParams(payload as Record<string, string>)}`;
    } else if (payload) {
      init.body = JSON.stringify(payload);
      init.headers = { 'content-type': 'application/json' };
    }
    let response: Response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      throw new UnavailableError(
        'mlflow',
        `MLflow unreachable (${method} ${path}): ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const text = await response.text().catch(() => '');
    if (response.status >= 500 || response.status === 429) {
      throw new UnavailableError(
        'mlflow',
        `MLflow answered ${response.status} to ${method} ${path}: ${text.slice(0, 200)}`,
      );
    }
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      throw new UnavailableError(
        'mlflow',
        `MLflow sent non-JSON to ${method} ${path}: ${text.slice(0, 200)}`,
      );
    }
    if (!response.ok) {
      throw new MlflowRequestError(
        response.status,
        typeof body.error_code === 'string' ? body.error_code : undefined,
        `MLflow ${method} ${path}: ${typeof body.message === 'string' ? body.message : text.slice(0, 200)}`,
      );
    }
    return body as T;
  }

  async getVersion(name: string, version: string): Promise<ModelVersion> {
    const body = await this.call<{ model_version: RawVersion }>('GET', 'model-versions/get', {
      name,
      version,
    });
    return toVersion(body.model_version);
  }

  /** The version an alias points at, or undefined when the alias is not set. */
  async getAlias(name: string, alias: string): Promise<ModelVersion | undefined> {
    try {
      const body = await this.call<{ model_version: RawVersion }>('GET', 'registered-models/alias', {
        name,
        alias,
      });
      return toVersion(body.model_version);
    } catch (error) {
      if (
        error instanceof MlflowRequestError &&
        (error.status === 404 || error.code === 'RESOURCE_DOES_NOT_EXIST')
      ) {
        return undefined;
      }
      if (error instanceof MlflowRequestError && error.code === 'INVALID_PARAMETER_VALUE') return undefined;
      throw error;
    }
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.call('POST', 'registered-models/alias', { name, alias, version });
  }

  /** Idempotent: deleting an alias that is not set is not an error. */
  async deleteAlias(name: string, alias: string): Promise<void> {
    try {
      await this.call('DELETE', 'registered-models/alias', { name, alias });
    } catch (error) {
      if (error instanceof MlflowRequestError && error.status === 404) return;
      throw error;
    }
  }

  async setTags(name: string, version: string, tags: Record<string, string>): Promise<void> {
    for (const [key, value] of Object.entries(tags)) {
      await this.call('POST', 'model-versions/set-tag', { name, version, key, value });
    }
  }

  /** Tags of the registered model itself, or undefined when the model is not registered yet. */
  async getModelTags(name: string): Promise<Record<string, string> | undefined> {
    try {
      const body = await this.call<{ registered_model: { tags?: { key: string; value: string }[] } }>(
        'GET',
        'registered-models/get',
        { name },
      );
      return tagsOf(body.registered_model.tags);
    } catch (error) {
      if (error instanceof MlflowRequestError && error.code === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw error;
    }
  }

  /** Sets tags on the registered model, registering the (empty) model first if nothing created it yet. */
  async setModelTags(name: string, tags: Record<string, string>): Promise<void> {
    for (const [key, value] of Object.entries(tags)) {
      try {
        await this.call('POST', 'registered-models/set-tag', { name, key, value });
      } catch (error) {
        if (!(error instanceof MlflowRequestError && error.code === 'RESOURCE_DOES_NOT_EXIST')) throw error;
        await this.createModel(name);
        await this.call('POST', 'registered-models/set-tag', { name, key, value });
      }
    }
  }

  /** Idempotent: a model that already exists is left as it is. */
  async createModel(name: string): Promise<void> {
    try {
      await this.call('POST', 'registered-models/create', { name });
    } catch (error) {
      if (error instanceof MlflowRequestError && error.code === 'RESOURCE_ALREADY_EXISTS') return;
      throw error;
    }
  }

  /** Latest value of each metric of a run. */
  async runMetrics(runId: string): Promise<Record<string, number>> {
    const body = await this.call<{ run: { data: { metrics?: { key: string; value: number }[] } } }>(
      'GET',
      'runs/get',
      { run_id: runId },
    );
    return Object.fromEntries((body.run.data.metrics ?? []).map((m) => [m.key, Number(m.value)]));
  }

  /** All versions of a model (the registry is small: one version per training run). */
  async listVersions(name: string): Promise<ModelVersion[]> {
    const versions: ModelVersion[] = [];
    let pageToken: string | undefined;
    do {
      const query: Record<string, string> = {
        filter: `name='${name.replaceAll("'", "\\'")}'`,
        max_results: '200',
      };
      if (pageToken) query.page_token = pageToken;
      const body = await this.call<{ model_versions?: RawVersion[]; next_page_token?: string }>(
        'GET',
        'model-versions/search',
        query,
      );
      versions.push(...(body.model_versions ?? []).map(toVersion));
      pageToken = body.next_page_token || undefined;
    } while (pageToken);
    return versions;
  }
}
