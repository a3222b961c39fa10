// Two ways to run the scorer in tests: in process (fastify inject, fast) and as the real server process
// (real HTTP, signals, worker threads in a separate process), both on the bundled model by default.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@fraud/testkit/ports';
import { type ManagedProcess, startProcess, waitUntil } from '@fraud/testkit/process';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { ScorerMetrics } from '../../src/metrics.ts';
import { Scorer } from '../../src/scorer.ts';
import { requireModel } from './model.ts';

const functionDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let sharedMetrics: ScorerMetrics | undefined;

export interface InProcess {
  app: FastifyInstance;
  scorer: Scorer;
  metrics: ScorerMetrics;
  close(): Promise<void>;
}

/** The app with the model loaded, for inject(); prom-client's registry is global, so one metrics object per process. */
export async function inProcess(env: Record<string, string> = {}, load = true): Promise<InProcess> {
  const config = loadConfig({ MODEL_URI: requireModel(), ...env });
  sharedMetrics ??= new ScorerMetrics();
  const metrics = sharedMetrics;
  const scorer = new Scorer(config, metrics);
  const app = buildApp({ config, scorer, metrics });
  await app.ready();
  if (load) await scorer.load();
  return {
    app,
    scorer,
    metrics,
    async close() {
      await app.close();
      await scorer.close();
    },
  };
}

export interface Spawned {
  url: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** The real server process (`node --import tsx src/index.ts`) on a free port; waits for readiness unless told not to. */
export async function spawnScorer(
  env: Record<string, string> = {},
  options: { waitReady?: boolean; name?: string } = {},
): Promise<Spawned> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = startProcess({
    name: options.name ?? `score-${port}`,
    command: process.execPath,
    args: ['--import', 'tsx', 'src/index.ts'],
    cwd: functionDir,
    logDir: path.join(functionDir, '.cache', 'test-logs'),
    env: {
      MODEL_URI: env.MODEL_URI ?? requireModel(),
      PORT: String(port),
      GRPC_PORT: '0',
      HOST: '127.0.0.1',
      ...env,
    },
  });
  const check = options.waitReady === false ? '/health/liveness' : '/health/readiness';
  try {
    await waitUntil(
      child,
      `scorer ${check} on ${url}`,
      async () => (await fetch(url + check)).ok,
      60_000,
      100,
    );
  } catch (err) {
    await child.kill();
    throw err;
  }
  return { url, process: child, stop: () => child.stop() };
}

/** Reads one sample value from Prometheus text, e.g. metric('fraud_scorer_requests_total{route="score",outcome="ok"}'). */
export function metricValue(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
