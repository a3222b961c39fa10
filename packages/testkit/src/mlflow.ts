// Starts a real MLflow 3 tracking server + model registry from the project venv, for tests and the local
// platform: SQLite backend (webhooks need a SQL store), local artifacts, one worker, a free port (loopback
// unless `host` says otherwise).
//
//   const mlflow = await startMlflow();
//   process.env.MLFLOW_TRACKING_URI = mlflow.url;
//   await mlflow.stop();
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensurePythonEnv } from './install/python.ts';
import { venvBin } from './paths.ts';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitUntil } from './process.ts';

export interface MlflowOptions {
  /** Reuse a data dir (database + artifacts), e.g. to restart a stopped server; kept on stop(). */
  dataDir?: string;
  /** Fixed port (to restart on the same URL); a free one otherwise. */
  port?: number;
  /**
   * Address to listen on (default 127.0.0.1). The real test node's pods reach the host only at its bridge
   * address (10.213.0.1), so a MLflow they download models from listens there. MLflow's host check admits
   * private addresses by default.
   */
  host?: string;
  /** Fernet key that encrypts webhook secrets in the database; pass the same one when restarting. */
  webhookEncryptionKey?: string;
  startTimeoutMs?: number;
}

export interface RunningMlflow {
  /** http://<host>:<port> (127.0.0.1 unless `host` was given), the MLFLOW_TRACKING_URI. */
  url: string;
  port: number;
  dataDir: string;
  webhookEncryptionKey: string;
  process: ManagedProcess;
  /** SIGTERM (then SIGKILL); removes the data dir unless it was passed in. */
  stop(): Promise<void>;
}

export async function startMlflow(options: MlflowOptions = {}): Promise<RunningMlflow> {
  await ensurePythonEnv();
  const mlflowBin = venvBin('mlflow');
  if (!existsSync(mlflowBin)) {
    throw new Error(
      `startMlflow: ${mlflowBin} is missing; the venv (airflow/requirements.lock.txt) must include mlflow`,
    );
  }
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'mlflow-'));
  mkdirSync(path.join(dataDir, 'artifacts'), { recursive: true });
  const port = options.port ?? (await freePort());
  // A Fernet key is 32 random bytes in URL-safe base64.
  const webhookEncryptionKey = options.webhookEncryptionKey ?? `${randomBytes(32).toString('base64url')}=`;
  const host = options.host ?? '127.0.0.1';
  const url = `http://${host}:${port}`;
  const process = startProcess({
    name: `mlflow-${port}`,
    command: mlflowBin,
    args: [
      'server',
      '--host',
      host,
      '--port',
      String(port),
      '--backend-store-uri',
      `sqlite:///${path.join(dataDir, 'mlflow.db')}`,
      '--artifacts-destination',
      path.join(dataDir, 'artifacts'),
      '--workers',
      '1',
    ],
    logDir: dataDir,
    cwd: dataDir,
    env: {
      // Let registry webhooks reach hooks on loopback / in-cluster addresses over plain http.
      MLFLOW_WEBHOOK_ALLOWED_SCHEMES: 'http,https',
      MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS: 'true',
      MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY: webhookEncryptionKey,
      // Tests register a webhook and expect it at once, not after the 60 s list cache expires.
      MLFLOW_WEBHOOK_CACHE_TTL: '1',
    },
  });
  try {
    await waitUntil(
      process,
      `MLflow /health on ${url}`,
      async () => (await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).ok,
      options.startTimeoutMs ?? 120_000,
      300,
    );
  } catch (error) {
    await process.kill();
    throw error;
  }
  return {
    url,
    port,
    dataDir,
    webhookEncryptionKey,
    process,
    async stop() {
      await process.stop();
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
