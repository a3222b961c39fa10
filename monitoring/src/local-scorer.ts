// Starts the score function as a child process on a free loopback port, the way the drill and the
// dashboard test need it: from its TypeScript source through tsx (same code `npm start` runs after the
// buildpack's `npm run build`), serving the bundled model, ready once /health/readiness answers 200.
import path from 'node:path';
import { freePort } from '@fraud/testkit/ports';
import { type ManagedProcess, startProcess, waitUntil } from '@fraud/testkit/process';
import { monitoringDir } from './rules.ts';

export const scorerDir = path.resolve(monitoringDir, '..', 'functions', 'score');

export interface LocalScorer {
  url: string;
  /** host:port, for a Prometheus scrape target. */
  address: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startLocalScorer(options: {
  name?: string;
  logDir: string;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}): Promise<LocalScorer> {
  const port = await freePort();
  const proc = startProcess({
    name: options.name ?? `score-${port}`,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(scorerDir, 'src', 'index.ts')],
    cwd: scorerDir,
    env: { PORT: String(port), GRPC_PORT: '0', HOST: '127.0.0.1', ...options.env },
    logDir: options.logDir,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(
      proc,
      `the scorer (functions/score) ready at ${url}/health/readiness`,
      async () => (await fetch(`${url}/health/readiness`)).status === 200,
      options.readyTimeoutMs ?? 60_000,
    );
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return { url, address: `127.0.0.1:${port}`, process: proc, stop: () => proc.stop() };
}
