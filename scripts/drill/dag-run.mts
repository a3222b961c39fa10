// Follows a DAG run that Airflow's scheduler executes, through the REST API only: the run's state and each
// task instance's state, every change reported once (for the drill's timeline), until the run ends.
import type { RunningAirflowApi } from '@fraud/testkit/airflow';

export interface DagRunResult {
  state: string;
  /** task id → final state, in the order the tasks finished. */
  tasks: Record<string, string | null>;
}

type TaskInstance = { task_id: string; state: string | null; duration: number | null };

export async function followDagRun(
  airflow: RunningAirflowApi,
  dagId: string,
  runId: string,
  timeoutSeconds: number,
  report: (step: string, detail?: string) => void,
): Promise<DagRunResult> {
  const base = `/dags/${encodeURIComponent(dagId)}/dagRuns/${encodeURIComponent(runId)}`;
  const deadline = Date.now() + timeoutSeconds * 1000;
  const seen = new Map<string, string | null>();
  let runState = '';
  for (;;) {
    // The run's state is read after its tasks', so a finished run is reported after its last task.
    const { body } = await airflow.get(`${base}/taskInstances`);
    for (const ti of (body as { task_instances?: TaskInstance[] } | null)?.task_instances ?? []) {
      if (seen.has(ti.task_id) && seen.get(ti.task_id) === ti.state) continue;
      seen.set(ti.task_id, ti.state);
      if (ti.state && ti.state !== 'scheduled' && ti.state !== 'queued')
        report(
          `Airflow task ${ti.task_id}: ${ti.state}`,
          ti.duration !== null && ti.state !== 'running' ? `${ti.duration.toFixed(1)} s` : undefined,
        );
    }
    const run = await airflow.get(base);
    const state = String((run.body as { state?: string } | null)?.state ?? `HTTP ${run.status}`);
    if (state !== runState) report(`Airflow: DAG run ${state}`, runId);
    runState = state;
    if (state === 'success' || state === 'failed') return { state, tasks: Object.fromEntries(seen) };
    if (Date.now() > deadline)
      throw new Error(
        `DAG run ${runId} still ${state} after ${timeoutSeconds} s (tasks ${JSON.stringify(Object.fromEntries(seen))})`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}
