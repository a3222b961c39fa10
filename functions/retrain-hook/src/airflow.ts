// Airflow 3's REST API, just enough to start a DAG run: a JWT from POST /auth/token (the simple auth manager
// or any auth manager that serves that route), then POST /api/v2/dags/{dag_id}/dagRuns.
import { UnavailableError } from './retry.ts';

export interface AirflowOptions {
  /** The API server's base URL, e.g. http://airflow-api-server.airflow.svc.cluster.local:8080 */
  baseUrl: string;
  username: string;
  password: string;
  timeoutMs?: number;
}

export type TriggerResult = { created: true; state: string } | { created: false; reason: 'exists' };

/** Airflow answered, and the answer means the request itself cannot succeed (retrying will not help). */
export class AirflowRefusedError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AirflowRefusedError';
  }
}

export class AirflowClient {
  private token: string | undefined;
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly o: AirflowOptions) {
    this.base = o.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  private async call(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw new UnavailableError('airflow', `${init.method ?? 'GET'} ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  private static async detail(response: Response): Promise<string> {
    const text = (await response.text()).slice(0, 500);
    try {
      const detail = (JSON.parse(text) as { detail?: unknown }).detail;
      return typeof detail === 'string' ? detail : JSON.stringify(detail ?? text);
    } catch {
      return text;
    }
  }

  private async login(): Promise<string> {
    const response = await this.call('/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: this.o.username, password: this.o.password }),
    });
    if (response.status >= 500)
      throw new UnavailableError('airflow', `POST /auth/token: HTTP ${response.status}`);
    if (response.status !== 201 && response.status !== 200) {
      throw new AirflowRefusedError(
        response.status,
        `Airflow refused the hook's credentials (user ${JSON.stringify(this.o.username)}): HTTP ${response.status} ${await AirflowClient.detail(response)}`,
      );
    }
    const { access_token } = (await response.json()) as { access_token?: unknown };
    if (typeof access_token !== 'string' || access_token === '')
      throw new UnavailableError('airflow', 'POST /auth/token answered without an access_token');
    this.token = access_token;
    return access_token;
  }

  /**
   * Starts a run with a caller-chosen run id. Airflow refuses a second run with the same id (409), which
   * makes the trigger idempotent across retries, restarts and replicas: that answer is `{ created: false }`.
   */
  async triggerDagRun(dagId: string, runId: string, conf: Record<string, unknown>, note?: string) {
    const path = `/api/v2/dags/${encodeURIComponent(dagId)}/dagRuns`;
    const body = JSON.stringify({ dag_run_id: runId, logical_date: null, conf, note });
    for (let attempt = 0; ; attempt++) {
      const token = this.token ?? (await this.login());
      const response = await this.call(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      });
      // An expired or rotated JWT: log in again once.
      if (response.status === 401 && attempt === 0) {
        this.token = undefined;
        continue;
      }
      if (response.status === 200 || response.status === 201) {
        const run = (await response.json()) as { state?: string };
        return { created: true, state: run.state ?? 'unknown' } satisfies TriggerResult;
      }
      if (response.status === 409) return { created: false, reason: 'exists' } satisfies TriggerResult;
      if (response.status >= 500 || response.status === 429) {
        throw new UnavailableError('airflow', `POST ${path}: HTTP ${response.status}`);
      }
      const what =
        response.status === 404
          ? `DAG ${JSON.stringify(dagId)} not found (not parsed yet, or another dag_id)`
          : response.status === 403
            ? `user ${JSON.stringify(this.o.username)} may not trigger ${dagId}`
            : 'run refused';
      throw new AirflowRefusedError(
        response.status,
        `Airflow: ${what}: HTTP ${response.status} ${await AirflowClient.detail(response)}`,
      );
    }
  }
}
