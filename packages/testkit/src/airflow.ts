// Starts a real Airflow 3 API server from the project venv, for tests and the local platform: SQLite
// metadata DB in a temp dir (`airflow db migrate`), the simple auth manager with one user whose password
// is written to its passwords file, a random JWT secret, and (optionally) a DAG folder serialized into the
// DB so the REST API knows its DAGs without a DAG processor. No scheduler here: triggered runs stay queued
// unless `startAirflowScheduler(api)` (airflow-scheduler.ts) runs Airflow's scheduler and DAG processor beside it.
//
//   const airflow = await startAirflowApi({ dagsFolder: 'airflow/dags' });
//   airflow.url, airflow.username, airflow.password   // POST /auth/token, then /api/v2/...
//   await airflow.stop();
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { ensurePythonEnv } from './install/python.ts';
import { repoRoot, venvBin } from './paths.ts';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitUntil } from './process.ts';

export interface AirflowApiOptions {
  /** DAG files to serialize into the DB (`airflow dags reserialize`); none when omitted. */
  dagsFolder?: string;
  /** The API user; its role is `user` (may trigger DAG runs, not administer). */
  username?: string;
  role?: 'viewer' | 'user' | 'op' | 'admin';
  /** Extra environment for every airflow command (e.g. what the DAG file reads at parse time). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

export interface RunningAirflowApi {
  /** http://127.0.0.1:<port>: the API is under /api/v2, the token endpoint is /auth/token. */
  url: string;
  port: number;
  home: string;
  /** The environment of every airflow command here (AIRFLOW_HOME, DB, JWT secret, ...), for the scheduler. */
  env: Readonly<Record<string, string>>;
  username: string;
  password: string;
  process: ManagedProcess;
  /** A JWT for the user (POST /auth/token). */
  token(): Promise<string>;
  /** GET an /api/v2 path with a fresh token; returns status and JSON body. */
  get(apiPath: string): Promise<{ status: number; body: unknown }>;
  /** POST JSON to an /api/v2 path with a fresh token (e.g. trigger a DAG run); returns status and JSON body. */
  post(apiPath: string, payload: unknown): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

export async function startAirflowApi(options: AirflowApiOptions = {}): Promise<RunningAirflowApi> {
  await ensurePythonEnv();
  const airflowBin = venvBin('airflow');
  if (!existsSync(airflowBin)) {
    throw new Error(`startAirflowApi: ${airflowBin} is missing; the venv must include apache-airflow`);
  }
  const home = mkdtempSync(path.join(os.tmpdir(), 'airflow-api-'));
  const username = options.username ?? 'retrain-hook';
  const password = randomBytes(18).toString('base64url');
  const passwordsFile = path.join(home, 'passwords.json');
  writeFileSync(passwordsFile, JSON.stringify({ [username]: password }), { mode: 0o600 });
  const dagsFolder = options.dagsFolder
    ? path.resolve(repoRoot, options.dagsFolder)
    : path.join(home, 'dags');
  mkdirSync(dagsFolder, { recursive: true });
  const env: Record<string, string> = {
    AIRFLOW_HOME: home,
    AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
    AIRFLOW__CORE__DAGS_FOLDER: dagsFolder,
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: `sqlite:///${path.join(home, 'airflow.db')}`,
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS: `${username}:${options.role ?? 'user'}`,
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE: passwordsFile,
    AIRFLOW__API_AUTH__JWT_SECRET: randomBytes(32).toString('hex'),
    PYTHONPATH: [path.join(repoRoot, 'airflow'), path.join(repoRoot, 'airflow', 'dags')].join(path.delimiter),
    ...options.env,
  };
  const cli = async (args: string[], what: string) => {
    const result = await $({
      env: { ...process.env, ...env },
      cwd: home,
      nothrow: true,
      quiet: true,
    })`${airflowBin} ${args}`;
    if (result.exitCode !== 0) {
      throw new Error(
        `startAirflowApi: ${what} failed (exit ${result.exitCode}):\n${result.stderr.slice(-2000) || result.stdout.slice(-2000)}`,
      );
    }
  };
  const removeHome = () => rmSync(home, { recursive: true, force: true });
  let server: ManagedProcess | undefined;
  try {
    await cli(['db', 'migrate'], 'airflow db migrate');
    if (options.dagsFolder) await cli(['dags', 'reserialize'], `airflow dags reserialize (${dagsFolder})`);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    server = startProcess({
      name: `airflow-api-${port}`,
      command: airflowBin,
      args: ['api-server', '--host', '127.0.0.1', '--port', String(port), '--workers', '1'],
      logDir: home,
      cwd: home,
      env,
    });
    const running = server;
    await waitUntil(
      running,
      `Airflow API /api/v2/monitor/health on ${url}`,
      async () => (await fetch(`${url}/api/v2/monitor/health`, { signal: AbortSignal.timeout(2000) })).ok,
      options.startTimeoutMs ?? 180_000,
      500,
    );
    const token = async () => {
      const response = await fetch(`${url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      });
      if (response.status !== 201)
        throw new Error(`POST /auth/token: HTTP ${response.status} ${await response.text()}`);
      return ((await response.json()) as { access_token: string }).access_token;
    };
    // /api/v2 with a fresh token; status and JSON body (null when there is none).
    const api = async (method: 'GET' | 'POST', apiPath: string, payload?: unknown) => {
      const headers: Record<string, string> = { authorization: `Bearer ${await token()}` };
      if (payload !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${url}/api/v2${apiPath}`, {
        method,
        headers,
        body: payload === undefined ? undefined : JSON.stringify(payload),
      });
      return { status: response.status, body: (await response.json().catch(() => null)) as unknown };
    };
    return {
      url,
      port,
      home,
      env,
      username,
      password,
      process: running,
      token,
      get: (apiPath) => api('GET', apiPath),
      post: (apiPath, payload) => api('POST', apiPath, payload),
      async stop() {
        await running.stop();
        removeHome();
      },
    };
  } catch (error) {
    await server?.kill();
    removeHome();
    throw error;
  }
}
