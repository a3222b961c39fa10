// Builds the score function (as the buildpack does: `npm run build`) and runs `node dist/index.js` as a
// child process on the bundled model, waiting until it is ready. Used by `npm start` and benchmarks.
//
//   const scorer = await startScorer({ port: 8080 });
//   console.log(scorer.url);
//   await scorer.stop();
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { type ManagedProcess, startProcess, waitUntil } from '@fraud/testkit/process';
import { repoRoot } from '../lib/repo.mts';

export const scoreDir = path.join(repoRoot, 'functions', 'score');

export interface ScorerOptions {
  /** Default 8080 (docs/DESIGN.md); 0 is not allowed because the URL must be known. */
  port?: number;
  host?: string;
  /** Extra environment for the scorer (MODEL_URI, DECISION_SINK_URL, INFERENCE_WORKERS, ...). */
  env?: Record<string, string>;
  /** Skip `npm run build` when dist/ is known to be fresh. */
  build?: boolean;
  logDir?: string;
  readyTimeoutMs?: number;
}

export interface RunningScorer {
  url: string;
  process: ManagedProcess;
  /** SIGTERM (the scorer drains in-flight requests), SIGKILL after the grace period. */
  stop(): Promise<void>;
}

/** Compiles functions/score to dist/ with its own tsconfig.build.json; throws with tsc's output on failure. */
export function buildScorer(): void {
  const result = spawnSync('npm', ['run', 'build', '--workspace', 'functions/score'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  if (result.status !== 0)
    throw new Error(`building functions/score failed:\n${result.stdout}\n${result.stderr}`);
}

export async function startScorer(options: ScorerOptions = {}): Promise<RunningScorer> {
  const port = options.port ?? Number(process.env.SCORER_PORT ?? 8080);
  const host = options.host ?? '127.0.0.1';
  if (options.build !== false) buildScorer();
  const child = startProcess({
    name: `scorer-${port}`,
    command: process.execPath,
    args: ['dist/index.js'],
    cwd: scoreDir,
    logDir: options.logDir ?? path.join(repoRoot, '.cache', 'logs'),
    env: {
      PORT: String(port),
      // gRPC (Open Inference Protocol) beside it: SCORER_GRPC_PORT, else 8085 (the local retrain-hook has 8081).
      GRPC_PORT: process.env.SCORER_GRPC_PORT ?? '8085',
      HOST: host,
      MODEL_CACHE_DIR: path.join(repoRoot, '.cache', 'model-cache'),
      ...options.env,
    },
  });
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  try {
    await waitUntil(
      child,
      `scorer readiness on ${url}/health/readiness`,
      async () => (await fetch(`${url}/health/readiness`)).ok,
      options.readyTimeoutMs ?? 60_000,
      50,
    );
  } catch (err) {
    await child.stop(2000);
    throw err;
  }
  return { url, process: child, stop: () => child.stop() };
}
