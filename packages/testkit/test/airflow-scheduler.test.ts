// Airflow's own scheduler, DAG processor and LocalExecutor on the SQLite metadata DB, beside the API server:
// a triggered run of a two-task DAG is executed by Airflow (the second task reads the first one's XCom and
// an environment variable given to the scheduler), a failing task fails its run, and stop() ends everything.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAirflowApi } from '@fraud/testkit/airflow';
import { startAirflowScheduler } from '@fraud/testkit/airflow-scheduler';
import { processAlive } from '@fraud/testkit/process';
import test from 'ava';

const DAG = `
import os
from datetime import datetime
from airflow.sdk import dag, task

@dag(dag_id="pair", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def pair():
    @task
    def first(**context):
        if context["params"].get("fail"):
            raise RuntimeError("asked to fail")
        return 20

    @task
    def second(value):
        return value + int(os.environ["TESTKIT_ADDEND"])

    second(first())

pair()
`;

type Run = { state: string };
type Tasks = { task_instances: { task_id: string; state: string | null }[] };

test("a triggered run is executed by Airflow's scheduler (LocalExecutor, SQLite), a failing task fails its run, stop() ends it all", async (t) => {
  t.timeout(8 * 60_000);
  const dags = mkdtempSync(path.join(os.tmpdir(), 'testkit-dags-'));
  writeFileSync(path.join(dags, 'pair.py'), DAG);
  const api = await startAirflowApi({ dagsFolder: dags, role: 'admin' });
  t.teardown(() => api.stop());
  const scheduler = await startAirflowScheduler(api, { unpause: ['pair'], env: { TESTKIT_ADDEND: '22' } });
  t.teardown(() => scheduler.stop());

  const finished = async (runId: string) => {
    const deadline = Date.now() + 4 * 60_000;
    for (;;) {
      const { body } = await api.get(`/dags/pair/dagRuns/${runId}`);
      const state = (body as Run).state;
      if (state === 'success' || state === 'failed') return state;
      if (Date.now() > deadline) return `still ${state}`;
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const ok = await api.post('/dags/pair/dagRuns', { dag_run_id: 'manual__ok', logical_date: null, conf: {} });
  t.is(ok.status, 200, JSON.stringify(ok.body));
  t.is(await finished('manual__ok'), 'success', scheduler.scheduler.tail());
  const tasks = (await api.get('/dags/pair/dagRuns/manual__ok/taskInstances')).body as Tasks;
  t.deepEqual(tasks.task_instances.map((ti) => [ti.task_id, ti.state]).sort(), [
    ['first', 'success'],
    ['second', 'success'],
  ]);
  const xcom = await api.get('/dags/pair/dagRuns/manual__ok/taskInstances/second/xcomEntries/return_value');
  t.is((xcom.body as { value: unknown }).value, 42, JSON.stringify(xcom.body));

  const bad = await api.post('/dags/pair/dagRuns', {
    dag_run_id: 'manual__bad',
    logical_date: null,
    conf: { fail: true },
  });
  t.is(bad.status, 200, JSON.stringify(bad.body));
  t.is(await finished('manual__bad'), 'failed');

  const pids = [scheduler.scheduler.child.pid, scheduler.dagProcessor.child.pid] as number[];
  await scheduler.stop();
  // Nothing left in either process group (the LocalExecutor's workers, task supervisors, the log server).
  t.deepEqual(
    pids.map((pid) => processAlive(-pid)),
    [false, false],
  );
});
