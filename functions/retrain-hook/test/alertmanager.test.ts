// POST /alertmanager/webhook → Airflow 3's REST API, against a real Airflow API server (SQLite, the simple
// auth manager, the real fraud_retrain DAG serialized into its DB) and a real Alertmanager running the
// repository's config (monitoring/alertmanager/alertmanager.yaml with the local rewrite).
import { randomBytes } from 'node:crypto';
import { startAirflowApi } from '@fraud/testkit/airflow';
import { startAlertmanager } from '@fraud/testkit/alertmanager';
import { freePort } from '@fraud/testkit/ports';
import { waitUntil } from '@fraud/testkit/process';
import { startWebhookReceiver } from '@fraud/testkit/webhook-receiver';
import test from 'ava';
import fc from 'fast-check';
import { localAlertmanagerConfig } from '../../../monitoring/src/alertmanager-config.ts';
import { retrainRunId } from '../src/alerts.ts';
import { testHook } from './helpers/hook.ts';

// Made per run: no credential, not even a test one, is written in the code.
const TOKEN = randomBytes(24).toString('base64url');
const DAG = 'fraud_retrain';
const closedMlflow = `http://127.0.0.1:${await freePort()}`;
const airflow = await startAirflowApi({ dagsFolder: 'airflow/dags' });
// The DAG's own params validate the conf: a run the DAG could not start is refused by Airflow, not queued.
// The hook's default conf: retrain on the archive (RETRAIN_DAG_CONF unset).
const CONF = { source: 'archive' };
const hookEnv = (extra: Record<string, string> = {}) => ({
  MLFLOW_TRACKING_URI: closedMlflow,
  ALERTMANAGER_BEARER_TOKEN: TOKEN,
  AIRFLOW_API_URL: airflow.url,
  AIRFLOW_USERNAME: airflow.username,
  AIRFLOW_PASSWORD: airflow.password,
  ...extra,
});
const hook = testHook(hookEnv());
test.after.always(async () => {
  await hook.stop();
  await airflow.stop();
});

let sequence = 0;
/** An Alertmanager v4 notification for one alert group; a fresh group key per call unless given. */
function notification(
  alerts: { alertname?: string; status?: 'firing' | 'resolved'; startsAt?: string }[],
  groupKey = `{}/{alertname="FraudModelRecallDrop"}:{namespace="fraud-${++sequence}"}`,
) {
  return {
    version: '4',
    groupKey,
    truncatedAlerts: 0,
    status: alerts.some((a) => (a.status ?? 'firing') === 'firing') ? 'firing' : 'resolved',
    receiver: 'retrain',
    groupLabels: { alertname: 'FraudModelRecallDrop' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager.invalid',
    alerts: alerts.map((a, i) => ({
      status: a.status ?? 'firing',
      labels: {
        alertname: a.alertname ?? 'FraudModelRecallDrop',
        namespace: 'fraud',
        version: String(i + 1),
      },
      annotations: { summary: 'recall fell' },
      startsAt: a.startsAt ?? '2026-12-02T10:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.invalid/graph',
      fingerprint: `f${i}`,
    })),
  };
}

const send = (
  h: ReturnType<typeof testHook>,
  body: unknown,
  authorization: string | null = `Bearer ${TOKEN}`,
) =>
  h.app.inject({
    method: 'POST',
    url: '/alertmanager/webhook',
    payload: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
  });

type DagRun = {
  dag_run_id: string;
  state: string;
  conf: unknown;
  triggering_user_name: string;
  note: string | null;
};
async function alertRuns(): Promise<DagRun[]> {
  const { status, body } = await airflow.get(`/dags/${DAG}/dagRuns?limit=100`);
  if (status !== 200) throw new Error(`GET dagRuns: ${status} ${JSON.stringify(body)}`);
  return (body as { dag_runs: DagRun[] }).dag_runs.filter((r) => r.dag_run_id.startsWith('alert__'));
}
const metric = async (h: ReturnType<typeof testHook>, line: RegExp) =>
  Number(((await h.app.inject('/metrics')).body.match(line) ?? [])[1] ?? 0);

test.serial(
  'without the token, with another one or a malformed header: 401, nothing triggered',
  async (t) => {
    const body = notification([{}]);
    for (const [auth, reason] of [
      [null, /^unsigned/],
      [`Bearer ${TOKEN}x`, /^bad_signature/],
      [`Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}`, /^malformed/],
      [TOKEN, /^malformed/],
    ] as const) {
      const response = await send(hook, body, auth);
      t.is(response.statusCode, 401, String(auth));
      t.regex(response.json().error, reason);
    }
    t.deepEqual(await alertRuns(), []);
  },
);

test.serial(
  'bad bodies get a 400 naming the field; other alerts and resolved ones are ignored',
  async (t) => {
    const cases: [unknown, RegExp][] = [
      ['{', /JSON/i],
      [[], /body must be a JSON object/],
      [{ ...notification([{}]), version: '3' }, /version must be "4"/],
      [{ ...notification([{}]), groupKey: '' }, /groupKey/],
      [{ ...notification([{}]), alerts: {} }, /alerts must be an array/],
      [
        { ...notification([{}]), alerts: [{ status: 'firing', labels: {}, startsAt: 'yesterday' }] },
        /alerts\[0\]\.startsAt/,
      ],
      [
        { ...notification([{}]), alerts: [{ status: 'on', labels: {}, startsAt: '2026-12-02T10:00:00Z' }] },
        /alerts\[0\]\.status/,
      ],
      [
        {
          ...notification([{}]),
          alerts: [{ status: 'firing', labels: { a: 1 }, startsAt: '2026-12-02T10:00:00Z' }],
        },
        /alerts\[0\]\.labels\.a/,
      ],
    ];
    for (const [body, message] of cases) {
      const response = await send(hook, body);
      t.is(response.statusCode, 400, JSON.stringify(body).slice(0, 80));
      t.regex(response.json().error, message);
    }
    for (const body of [
      notification([{ alertname: 'FraudRateSpike' }]),
      notification([{ status: 'resolved' }]),
    ]) {
      const response = await send(hook, body);
      t.is(response.statusCode, 200);
      t.regex(response.json().ignored, /no firing FraudModelRecallDrop/);
    }
    // Any JSON at all, correctly authenticated: a 400 or an ignore, never a crash and never a run.
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const response = await send(hook, value);
        t.true([200, 400].includes(response.statusCode), response.body);
      }),
      { numRuns: 80 },
    );
    t.deepEqual(await alertRuns(), []);
  },
);

test.serial(
  'a firing starts one DAG run; repeats, a restarted hook and later alerts of the group do not',
  async (t) => {
    const groupKey = '{}/{alertname="FraudModelRecallDrop"}:{namespace="fraud"}';
    const first = notification([{ startsAt: '2026-12-02T10:00:00Z' }], groupKey);
    const response = await send(hook, first);
    t.is(response.statusCode, 202, response.body);
    const answer = response.json();
    t.like(answer, { triggered: true, dag_id: DAG, state: 'queued' });
    t.is(
      answer.dag_run_id,
      retrainRunId(
        groupKey,
        first.alerts.map((a) => ({ ...a, status: 'firing' as const })),
      ),
    );

    const runs = await alertRuns();
    t.is(runs.length, 1);
    t.like(runs[0], {
      dag_run_id: answer.dag_run_id,
      state: 'queued',
      triggering_user_name: airflow.username,
    });
    t.deepEqual(runs[0]!.conf, CONF);
    t.regex(runs[0]!.note ?? '', /FraudModelRecallDrop v1 firing since 2026-12-02T10:00:00Z/);

    // Alertmanager's repeat of the same firing: answered from memory.
    t.like((await send(hook, first)).json(), {
      duplicate: true,
      status: 'done',
      dag_run_id: answer.dag_run_id,
    });
    // A second alert joins the group later: same firing of the group, same run.
    const grown = notification(
      [{ startsAt: '2026-12-02T10:00:00Z' }, { startsAt: '2026-12-02T10:20:00Z' }],
      groupKey,
    );
    t.like((await send(hook, grown)).json(), { duplicate: true, dag_run_id: answer.dag_run_id });
    // A restarted hook has no memory: Airflow's unique run id (409) answers instead.
    const restarted = testHook(hookEnv());
    t.teardown(() => restarted.stop());
    t.like((await send(restarted, first)).json(), {
      duplicate: true,
      status: 'exists',
      dag_run_id: answer.dag_run_id,
    });
    t.is((await alertRuns()).length, 1);

    // The group resolved and fired again: a new firing, a new run.
    const again = await send(hook, notification([{ startsAt: '2026-12-03T08:00:00Z' }], groupKey));
    t.is(again.statusCode, 202);
    t.not(again.json().dag_run_id, answer.dag_run_id);
    t.is((await alertRuns()).length, 2);
    t.is(await metric(hook, /fraud_retrain_alert_triggers_total\{outcome="triggered"\} (\d+)/), 2);
  },
);

test.serial(
  'Airflow down: retried with backoff, then 503 + Retry-After naming Airflow; the next delivery tries again',
  async (t) => {
    const down = testHook(
      hookEnv({ AIRFLOW_API_URL: `http://127.0.0.1:${await freePort()}`, AIRFLOW_RETRY_ATTEMPTS: '3' }),
    );
    t.teardown(() => down.stop());
    const body = notification([{}]);
    for (const round of [1, 2]) {
      const response = await send(down, body);
      t.is(response.statusCode, 503, response.body);
      t.regex(response.json().error, /^airflow unavailable: POST \/auth\/token/);
      t.truthy(response.headers['retry-after']);
      // 2 retries + the final failure per delivery: not remembered as done, so round 2 calls Airflow again.
      t.is(
        await metric(down, /fraud_retrain_dependency_errors_total\{dependency="airflow"\} (\d+)/),
        3 * round,
      );
    }
    t.is(await metric(down, /fraud_retrain_alert_triggers_total\{outcome="failed"\} (\d+)/), 2);
  },
);

test.serial(
  'Airflow refuses: wrong password or params the DAG rejects are a 502 that says why',
  async (t) => {
    const wrongPassword = testHook(hookEnv({ AIRFLOW_PASSWORD: randomBytes(18).toString('base64url') }));
    const badConf = testHook(hookEnv({ RETRAIN_DAG_CONF: '{"source":"nowhere"}' }));
    const noDag = testHook(hookEnv({ AIRFLOW_DAG_ID: 'no_such_dag' }));
    t.teardown(() => Promise.all([wrongPassword.stop(), badConf.stop(), noDag.stop()]));
    const r1 = await send(wrongPassword, notification([{}]));
    t.is(r1.statusCode, 502);
    t.regex(r1.json().error, /Airflow refused the hook's credentials \(user "retrain-hook"\): HTTP 401/);
    const r2 = await send(badConf, notification([{}]));
    t.is(r2.statusCode, 502);
    t.regex(r2.json().error, /Invalid input for param source: 'nowhere'/);
    const r3 = await send(noDag, notification([{}]));
    t.is(r3.statusCode, 502);
    t.regex(r3.json().error, /DAG "no_such_dag" not found/);
  },
);

test.serial(
  'live: the repository Alertmanager config routes FraudModelRecallDrop to the hook with its token; repeats start no second run',
  async (t) => {
    const before = (await alertRuns()).length;
    const duplicates = /fraud_retrain_alert_triggers_total\{outcome="duplicate"\} (\d+)/;
    const duplicatesBefore = await metric(hook, duplicates);
    const url = await hook.start();
    const sink = await startWebhookReceiver();
    const local = localAlertmanagerConfig({
      receiverUrl: sink.url,
      retrainHookUrl: `${url}/alertmanager/webhook`,
      retrainHookToken: TOKEN,
      timeScale: 3600, // group_wait 1 s, repeat_interval 4 s
    });
    const am = await startAlertmanager(local);
    t.teardown(async () => {
      await am.stop();
      await sink.stop();
    });
    await am.post([
      {
        labels: {
          alertname: 'FraudModelRecallDrop',
          severity: 'warning',
          namespace: 'fraud-live',
          service: 'score',
          version: '3',
        },
        annotations: {
          summary: 'recall 0.2 < 0.8',
          description: 'd',
          runbook_url: 'https://example.invalid',
        },
        endsAt: new Date(Date.now() + 10 * 60_000).toISOString(),
      },
    ]);
    await waitUntil(
      undefined,
      'a run triggered by Alertmanager',
      async () => (await alertRuns()).length === before + 1,
      30_000,
      300,
    );
    // Wait through at least two repeat intervals: each repeat reaches the hook and is recognised.
    await waitUntil(
      undefined,
      'two repeats answered as duplicates',
      async () => (await metric(hook, duplicates)) >= duplicatesBefore + 2,
      40_000,
      500,
    );
    t.is((await alertRuns()).length, before + 1);
    // `continue: true`: people hear of it too (the chat receiver).
    t.true(sink.received.some((n) => n.path === '/chat'));
  },
);
