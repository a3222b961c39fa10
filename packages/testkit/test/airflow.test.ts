import { startAirflowApi } from '@fraud/testkit/airflow';
import test from 'ava';

test('a real Airflow API server: token for its user, the DAG folder serialized, a wrong password refused, clean stop', async (t) => {
  const airflow = await startAirflowApi({ dagsFolder: 'airflow/dags' });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await airflow.stop();
  });
  const token = await airflow.token();
  t.regex(token, /^[\w-]+\.[\w-]+\.[\w-]+$/); // a JWT
  const dags = await airflow.get('/dags');
  t.is(dags.status, 200);
  t.deepEqual(
    (dags.body as { dags: { dag_id: string }[] }).dags.map((d) => d.dag_id),
    ['fraud_retrain'],
  );
  const refused = await fetch(`${airflow.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: airflow.username, password: `${airflow.password}x` }),
  });
  t.is(refused.status, 401);
  const anonymous = await fetch(`${airflow.url}/api/v2/dags`);
  t.is(anonymous.status, 401);
  await airflow.stop();
  stopped = true;
  await t.throwsAsync(fetch(`${airflow.url}/api/v2/monitor/health`));
});
