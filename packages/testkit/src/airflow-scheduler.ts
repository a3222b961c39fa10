// Runs Airflow 3's own scheduler and DAG processor beside an API server from startAirflowApi(), so triggered
// DAG runs are executed by Airflow itself: the LocalExecutor (Airflow 3's default; there is no
// SequentialExecutor any more, and `airflow standalone` runs exactly this on SQLite) forks a task supervisor
// per task instance, which talks to the Execution API the API server serves at /execution/ (tasks never
// open the metadata DB themselves). Same AIRFLOW_HOME, SQLite DB and JWT secret as the API server.
//
//   const api = await startAirflowApi({ dagsFolder: 'airflow/dags', env: { FRAUD_RETRAIN_SCHEDULE: 'none' } });
//   const scheduler = await startAirflowScheduler(api, { unpause: ['fraud_retrain'], env: { ... } });
//   // POST /api/v2/dags/fraud_retrain/dagRuns → queued → running → success, by Airflow's scheduler
//   await scheduler.stop(); await api.stop();
import { $ } from 'zx';
import type { RunningAirflowApi } from './airflow.ts';
import { venvBin } from './paths.ts';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitUntil } from './process.ts';

export interface AirflowSchedulerOptions {
  /** Environment for the scheduler and the DAG processor, and so for every task they run (what the DAG reads). */
  env?: Record<string, string>;
  /** DAGs to unpause first (`airflow dags unpause`): Airflow never schedules the runs of a paused DAG. */
  unpause?: string[];
  /** Task instances running at once (core.parallelism); default 2, this machine's cores. */
  parallelism?: number;
  /** How often the DAG processor re-parses a file (min_file_process_interval); default 600 s: DAG files do not change under a test. */
  parseIntervalSeconds?: number;
  startTimeoutMs?: number;
}

export interface RunningAirflowScheduler {
  scheduler: ManagedProcess;
  dagProcessor: ManagedProcess;
  /** Stops both (SIGTERM to each process group: the LocalExecutor's workers and their tasks with them). */
  stop(): Promise<void>;
}

interface Health {
  scheduler?: { status?: string | null };
  dag_processor?: { status?: string | null };
}

export async function startAirflowScheduler(
  api: RunningAirflowApi,
  options: AirflowSchedulerOptions = {},
): Promise<RunningAirflowScheduler> {
  const airflowBin = venvBin('airflow');
  const env: Record<string, string> = {
    ...api.env,
    AIRFLOW__CORE__EXECUTOR: 'LocalExecutor',
    AIRFLOW__CORE__EXECUTION_API_SERVER_URL: `${api.url}/execution/`,
    AIRFLOW__CORE__PARALLELISM: String(options.parallelism ?? 2),
    // The scheduler serves task logs on a port (8793 by default): a free one, so runs side by side never clash.
    AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT: String(await freePort()),
    AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL: String(options.parseIntervalSeconds ?? 600),
    ...options.env,
  };
  for (const dagId of options.unpause ?? []) {
    const result = await $({
      env: { ...process.env, ...env },
      cwd: api.home,
      nothrow: true,
      quiet: true,
    })`${airflowBin} dags unpause ${dagId}`;
    if (result.exitCode !== 0)
      throw new Error(
        `startAirflowScheduler: airflow dags unpause ${dagId} failed (exit ${result.exitCode}):\n${(result.stderr || result.stdout).slice(-2000)}`,
      );
  }
  const start = (name: string, args: string[]) =>
    startProcess({
      name: `airflow-${name}-${api.port}`,
      command: airflowBin,
      args,
      logDir: api.home,
      cwd: api.home,
      env,
    });
  const scheduler = start('scheduler', ['scheduler']);
  const dagProcessor = start('dag-processor', ['dag-processor']);
  const stop = async () => {
    await Promise.all([scheduler.stop(), dagProcessor.stop()]);
  };
  const healthy = (component: 'scheduler' | 'dag_processor') => async () => {
    const response = await fetch(`${api.url}/api/v2/monitor/health`, { signal: AbortSignal.timeout(2000) });
    return ((await response.json()) as Health)[component]?.status === 'healthy';
  };
  try {
    const timeout = options.startTimeoutMs ?? 180_000;
    // Each heartbeats into the DB; the API server reports them healthy once a heartbeat is recent.
    await waitUntil(scheduler, `Airflow scheduler healthy on ${api.url}`, healthy('scheduler'), timeout, 500);
    await waitUntil(
      dagProcessor,
      `Airflow DAG processor healthy on ${api.url}`,
      healthy('dag_processor'),
      timeout,
      500,
    );
  } catch (error) {
    await Promise.all([scheduler.kill(), dagProcessor.kill()]);
    throw error;
  }
  return { scheduler, dagProcessor, stop };
}
