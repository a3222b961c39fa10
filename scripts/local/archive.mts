// The local archive (`npm start` composes it): PostgreSQL with its data kept in .cache/local-postgres (fsync
// on, so a restart keeps the archive), the archive function (functions/archive, run from source) on
// ARCHIVE_PORT (default 8082), fed by a KafkaSource stand-in for transactions, decisions and labels.
import path from 'node:path';
import { type PostgresService, startPostgres } from '@fraud/testkit/postgres';
import { type ManagedProcess, startProcess, waitUntil } from '@fraud/testkit/process';
import { repoRoot } from '../lib/repo.mts';

const logDir = path.join(repoRoot, '.cache', 'logs');

export async function startLocalPostgres(): Promise<PostgresService> {
  return startPostgres({
    port: Number(process.env.POSTGRES_PORT ?? 5433),
    dataDir: path.join(repoRoot, '.cache', 'local-postgres'),
    database: 'archive',
    durable: true,
  });
}

export async function startLocalArchive(options: {
  databaseUrl: string;
  port?: number;
}): Promise<{ url: string; process: ManagedProcess; stop(): Promise<void> }> {
  const port = options.port ?? Number(process.env.ARCHIVE_PORT ?? 8082);
  const proc = startProcess({
    name: 'archive',
    command: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, 'functions', 'archive', 'src', 'index.ts')],
    cwd: path.join(repoRoot, 'functions', 'archive'),
    logDir,
    env: {
      PORT: String(port),
      DATABASE_URL: options.databaseUrl,
      // Local time is compressed (the attack generator's labels come within seconds): judge decisions after a
      // minute, over the last hour, every 15 s. Override with the ARCHIVE_* variables.
      ARCHIVE_LABEL_MATURITY: process.env.ARCHIVE_LABEL_MATURITY ?? '60s',
      ARCHIVE_QUALITY_WINDOW: process.env.ARCHIVE_QUALITY_WINDOW ?? '1h',
      ARCHIVE_QUALITY_INTERVAL: process.env.ARCHIVE_QUALITY_INTERVAL ?? '15s',
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    proc,
    `the archive on ${url} to be ready`,
    async () => (await fetch(`${url}/health/readiness`)).ok,
    60_000,
  );
  return { url, process: proc, stop: () => proc.stop() };
}
