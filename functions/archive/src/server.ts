// Start and stop: listen at once (probes answer while migrations run), migrate (retrying while the database
// is not up yet), then run the quality and retention jobs on their intervals. SIGTERM: stop taking events,
// write what was accepted, close the pool.
import { buildApp, makeWriters } from './app.ts';
import type { ArchiveConfig } from './config.ts';
import { ArchiveMetrics } from './metrics.ts';
import { computeQuality, publishQuality } from './quality.ts';
import { Store } from './store.ts';

export interface RunningArchive {
  url: string;
  store: Store;
  metrics: ArchiveMetrics;
  /** Resolves once the migrations are applied. */
  migrated: Promise<void>;
  /** Runs the quality queries now (tests; the timer does it otherwise). */
  refreshQuality(): Promise<void>;
  runRetention(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

const log = (msg: string, extra: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...extra }));

export async function startArchive(
  config: ArchiveConfig,
  options: { host?: string; logger?: boolean } = {},
): Promise<RunningArchive> {
  const metrics = new ArchiveMetrics();
  metrics.qualityMaturity.set(config.labelMaturityMs / 1000);
  const store = new Store({
    databaseUrl: config.databaseUrl,
    poolMax: config.poolMax,
    onError: (error) => log('idle database connection lost', { error: error.message }),
  });
  const writers = makeWriters(store, config, metrics);
  const state: { starting?: string; stopping?: boolean } = { starting: 'running migrations' };
  const app = buildApp({ store, writers, metrics, state, logger: options.logger });
  await app.listen({ port: config.port, host: options.host ?? '0.0.0.0' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;

  let closed = false;
  const timers: NodeJS.Timeout[] = [];
  const migrated = (async () => {
    for (let attempt = 1; !closed; attempt++) {
      try {
        if (config.migrateOnStart) await store.migrate((m) => log(m));
        state.starting = undefined;
        log('archive ready', { port });
        return;
      } catch (error) {
        state.starting = `migrations: ${(error as Error).message}`;
        if (attempt === 1 || attempt % 10 === 0)
          log('migrations failed, retrying', { attempt, error: (error as Error).message });
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
      }
    }
  })();

  const refreshQuality = async () => {
    try {
      publishQuality(metrics, await computeQuality(store, config.labelMaturityMs, config.qualityWindowMs));
      metrics.qualityRuns.inc({ outcome: 'ok' });
    } catch (error) {
      metrics.qualityRuns.inc({ outcome: 'failed' });
      throw error;
    }
  };
  const runRetention = async () => {
    if (config.retentionDays <= 0) return {};
    const deleted = await store.applyRetention(config.retentionDays);
    for (const [table, n] of Object.entries(deleted)) metrics.retentionDeleted.inc({ table }, n);
    return deleted;
  };
  void migrated.then(() => {
    if (closed) return;
    const every = (ms: number, job: () => Promise<unknown>, what: string) => {
      const run = () => void job().catch((error: Error) => log(`${what} failed`, { error: error.message }));
      run();
      timers.push(setInterval(run, ms));
    };
    every(config.qualityIntervalMs, refreshQuality, 'model quality');
    every(config.retentionIntervalMs, runRetention, 'retention');
  });

  return {
    url: `http://127.0.0.1:${port}`,
    store,
    metrics,
    migrated,
    refreshQuality,
    runRetention,
    async close() {
      if (closed) return;
      closed = true;
      state.stopping = true;
      for (const t of timers) clearInterval(t);
      await app.close();
      await writers.drain();
      await migrated.catch(() => {});
      await store.close();
    },
  };
}
