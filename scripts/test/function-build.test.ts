// What `func deploy` does to a function folder, minus the container: the buildpack sees only the folder, runs
// `npm ci` from the folder's own lockfile with func.yaml's build env, the scripts named in BP_NODE_RUN_SCRIPTS,
// then `npm start`. Anything that reaches outside the folder (a tsconfig `extends`, a workspace package) breaks
// the image build on the cluster, and only a build from a copy of the folder alone shows it.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@fraud/testkit/ports';
import { startPostgres } from '@fraud/testkit/postgres';
import { startProcess, waitUntil } from '@fraud/testkit/process';
import test from 'ava';
import { parse } from 'yaml';
import { $ } from 'zx';
import { repoRoot } from '../lib/repo.mts';

interface FuncYaml {
  build: { buildEnvs?: { name: string; value: string }[] };
  run?: { envs?: { name: string; value: string }[] };
  deploy: { healthEndpoints: { liveness: string; readiness: string } };
}

/** The folder's tracked files (what a clone hands to `func deploy`), copied to a fresh directory. */
function copyTrackedFiles(folder: string): string {
  const target = mkdtempSync(path.join(os.tmpdir(), `func-build-${path.basename(folder)}-`));
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: folder, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  for (const file of files) {
    mkdirSync(path.dirname(path.join(target, file)), { recursive: true });
    cpSync(path.join(folder, file), path.join(target, file));
  }
  return target;
}

// Local stand-ins for what the cluster injects: a port, and the endpoints of MLflow and Prometheus (nothing
// listens there, which the functions must survive); secrets func.yaml takes from a Secret get test values.
const localEnv: Record<string, Record<string, string>> = {
  score: { MODEL_URI: 'model', DECISION_SINK_URL: '', MODEL_CACHE_DIR: '' },
  'retrain-hook': {
    AIRFLOW_HMAC_SECRET: 'test-only-airflow-secret-0123456789',
    MLFLOW_WEBHOOK_SECRET: 'test-only-mlflow-secret-0123456789',
    MLFLOW_TRACKING_URI: 'http://127.0.0.1:9',
    PROMETHEUS_URL: 'http://127.0.0.1:9',
  },
  // The cluster's PG* settings and password Secret give way to a real local PostgreSQL (started below).
  archive: { PGHOST: '', PGPORT: '', PGUSER: '', PGDATABASE: '', PGPASSWORD: '' },
};

/** Services a function needs before it can be ready: started for the test, their env merged in. */
const services: Record<string, () => Promise<{ env: Record<string, string>; stop(): Promise<void> }>> = {
  async archive() {
    const pg = await startPostgres({ database: 'archive' });
    return { env: { DATABASE_URL: pg.url }, stop: () => pg.stop() };
  },
};

for (const name of ['score', 'retrain-hook', 'archive']) {
  test(`functions/${name} builds and starts from a copy of its folder alone, as the buildpack does`, async (t) => {
    t.timeout(10 * 60_000, 'npm ci and tsc of a function folder');
    const folder = path.join(repoRoot, 'functions', name);
    const funcYaml = parse(readFileSync(path.join(folder, 'func.yaml'), 'utf8')) as FuncYaml;
    const buildEnv = Object.fromEntries((funcYaml.build.buildEnvs ?? []).map((e) => [e.name, e.value]));
    const dir = copyTrackedFiles(folder);
    const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'func-build-home-'));
    const service = await services[name]?.();
    try {
      const run = $({ cwd: dir, env: { ...process.env, ...buildEnv }, quiet: true, nothrow: true });
      const install = await run`npm ci --no-audit --no-fund`;
      t.is(install.exitCode, 0, `npm ci in the copied folder failed:\n${install.stderr.slice(-2000)}`);
      for (const script of (buildEnv.BP_NODE_RUN_SCRIPTS ?? '').split(',').filter(Boolean)) {
        const built = await run`npm run ${script}`;
        t.is(
          built.exitCode,
          0,
          `npm run ${script} failed:\n${built.stdout.slice(-2000)}${built.stderr.slice(-2000)}`,
        );
      }

      const port = await freePort();
      const runEnv = Object.fromEntries((funcYaml.run?.envs ?? []).map((e) => [e.name, e.value]));
      const env: Record<string, string> = {
        ...runEnv,
        ...localEnv[name],
        ...service?.env,
        PORT: String(port),
        HOME: cacheDir,
      };
      for (const [key, value] of Object.entries(env)) if (value === '') delete env[key];
      const server = startProcess({
        name: `func-build-${name}`,
        command: 'npm',
        args: ['start'],
        cwd: dir,
        env,
        logDir: cacheDir,
      });
      try {
        const { liveness, readiness } = funcYaml.deploy.healthEndpoints;
        // The score function is ready once its model is loaded and warmed; the hook is ready on its own.
        for (const endpoint of [liveness, readiness]) {
          await waitUntil(
            server,
            `${name} ${endpoint}`,
            async () => (await fetch(`http://127.0.0.1:${port}${endpoint}`)).ok,
            120_000,
          );
        }
        t.log(`${name}: built and serving ${liveness} and ${readiness}`);
      } catch (error) {
        t.fail(`${(error as Error).message}\n${server.tail(40)}`);
      } finally {
        await server.stop();
      }
    } finally {
      await service?.stop();
      rmSync(dir, { recursive: true, force: true });
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
}
