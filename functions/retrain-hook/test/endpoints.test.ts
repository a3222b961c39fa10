// Bad input at every endpoint. MLflow and Kubernetes point at closed ports here: any request that got as
// far as a dependency would come back 503, so a 4xx proves the hook refused it before acting.

import { freePort } from '@fraud/testkit/ports';
import test from 'ava';
import fc from 'fast-check';
import { testHook } from './helpers/hook.ts';
import { AIRFLOW_SECRET, airflowRequest, mlflowRequest, now, registered } from './helpers/signed.ts';

const hook = testHook({ MLFLOW_TRACKING_URI: `http://127.0.0.1:${await freePort()}` });
const app = hook.app;
test.after.always(() => hook.stop());

const post = (url: string, request: { body: string; headers: Record<string, string> }) =>
  app.inject({ method: 'POST', url, payload: request.body, headers: request.headers });

test('unsigned, tampered, stale and wrongly-keyed Airflow callbacks get 401 naming why', async (t) => {
  const good = airflowRequest(registered('1'));
  const cases: [string, { body: string; headers: Record<string, string> }, RegExp][] = [
    ['unsigned', { body: good.body, headers: { 'content-type': 'application/json' } }, /^unsigned/],
    ['tampered', { body: good.body.replace('"1"', '"2"'), headers: good.headers }, /^bad_signature/],
    ['stale', airflowRequest(registered('1'), { timestamp: now() - 3600 }), /^stale/],
    ['future', airflowRequest(registered('1'), { timestamp: now() + 3600 }), /^stale/],
    ['other key', airflowRequest(registered('1'), { secret: `${AIRFLOW_SECRET}!` }), /^bad_signature/],
    [
      'malformed',
      { body: good.body, headers: { ...good.headers, 'x-fraud-signature': 'sha1=abc' } },
      /^malformed/,
    ],
  ];
  for (const [name, request, error] of cases) {
    const response = await post('/airflow/events', request);
    t.is(response.statusCode, 401, name);
    t.regex(response.json().error, error, name);
  }
  // Other tests in this file run concurrently and also send stale requests: at least these two counted.
  const metrics = (await app.inject('/metrics')).body;
  const stale = metrics.match(
    /fraud_retrain_unauthorized_requests_total\{endpoint="airflow",reason="stale"\} (\d+)/,
  );
  t.true(Number(stale?.[1]) >= 2, metrics);
});

test('any unsigned body or header combination is refused with 401', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.string(),
      fc.dictionary(
        fc.constantFrom('x-fraud-timestamp', 'x-fraud-signature', 'x-other'),
        fc.stringMatching(/^[\x21-\x7e]*$/),
      ),
      async (body, headers) => {
        const response = await post('/airflow/events', {
          body,
          headers: { 'content-type': 'application/json', ...headers },
        });
        t.is(response.statusCode, 401);
      },
    ),
    { numRuns: 60 },
  );
});

test('signed bodies that are not valid events get 400 naming the problem', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc
          .record(
            {
              event_id: fc.oneof(fc.string(), fc.integer(), fc.constant('')),
              type: fc.oneof(fc.constantFrom('model_version.registered', 'training.failed'), fc.string()),
              model_name: fc.oneof(fc.string(), fc.constant(null)),
              version: fc.oneof(fc.string(), fc.integer(), fc.constant('0'), fc.constant('1.5')),
              dag_id: fc.oneof(fc.string(), fc.array(fc.string())),
            },
            { requiredKeys: [] },
          )
          .map((o) => JSON.stringify(o)),
      ),
      async (body) => {
        const response = await post('/airflow/events', airflowRequest(body));
        // A random draw can be a valid event; then MLflow (down) is asked and 503 comes back.
        if (response.statusCode === 202 || response.statusCode === 503) return;
        t.is(response.statusCode, 400, body);
        t.true(typeof response.json().error === 'string' && response.json().error.length > 0);
      },
    ),
    { numRuns: 150 },
  );
  const wrongModel = await post(
    '/airflow/events',
    airflowRequest({ ...registered('3'), model_name: 'other' }),
  );
  t.is(wrongModel.statusCode, 400);
  t.regex(wrongModel.json().error, /manages model fraud-detector, not other/);
  const badVersion = await post('/airflow/events', airflowRequest({ ...registered('3'), version: '01' }));
  t.regex(badVersion.json().error, /^version must be/);
});

test('oversized bodies get 413', async (t) => {
  const response = await post(
    '/airflow/events',
    airflowRequest({ ...registered('1'), pad: 'x'.repeat(300_000) }),
  );
  t.is(response.statusCode, 413);
});

test('training.failed is recorded once; a duplicate delivery is answered as such', async (t) => {
  const request = airflowRequest({
    event_id: 'fail-1',
    type: 'training.failed',
    dag_id: 'fraud_retrain',
    task_id: 'train',
    error: 'boom',
  });
  const first = await post('/airflow/events', request);
  t.is(first.statusCode, 202);
  const again = await post('/airflow/events', request);
  t.is(again.statusCode, 200);
  t.true(again.json().duplicate);
  t.regex(
    (await app.inject('/metrics')).body,
    /fraud_retrain_last_training_failure_timestamp_seconds [1-9]\d{9}/,
  );
});

test('MLflow down: a valid callback gets 503 with Retry-After, and the same event may be retried', async (t) => {
  const request = airflowRequest(registered('4', 'retry-me'));
  for (let i = 0; i < 2; i++) {
    const response = await post('/airflow/events', request);
    t.is(response.statusCode, 503);
    t.regex(response.json().error, /^mlflow unavailable/);
    t.is(response.headers['retry-after'], '30');
  }
});

test('MLflow webhooks: 401 unless signed; other events ignored; bad payloads 400', async (t) => {
  const created = {
    entity: 'model_version',
    action: 'created',
    timestamp: 'x',
    data: { name: 'fraud-detector', version: '2' },
  };
  const signed = mlflowRequest(created);
  const unsigned = await post('/mlflow/webhooks', {
    body: signed.body,
    headers: { 'content-type': 'application/json' },
  });
  t.is(unsigned.statusCode, 401);
  const tampered = await post('/mlflow/webhooks', {
    body: signed.body.replace('"2"', '"3"'),
    headers: signed.headers,
  });
  t.is(tampered.statusCode, 401);
  const stale = await post('/mlflow/webhooks', mlflowRequest(created, { timestamp: now() - 1000 }));
  t.is(stale.statusCode, 401);
  const ignored = await post(
    '/mlflow/webhooks',
    mlflowRequest({ entity: 'model_version_tag', action: 'set', data: {} }),
  );
  t.is(ignored.statusCode, 200);
  t.is(ignored.json().ignored, 'model_version_tag.set');
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc
          .record({
            entity: fc.constant('model_version'),
            action: fc.constant('created'),
            data: fc.oneof(
              fc.json(),
              fc.record({ name: fc.string(), version: fc.oneof(fc.string(), fc.integer({ max: 0 })) }),
            ),
          })
          .map((o) => JSON.stringify(o)),
      ),
      async (body) => {
        const response = await post('/mlflow/webhooks', mlflowRequest(body));
        if (response.statusCode === 200 && response.json().ignored) return;
        t.is(response.statusCode, 400, body);
      },
    ),
    { numRuns: 100 },
  );
});

test('MLflow webhooks are off (404) without a secret', async (t) => {
  const plain = testHook({ MLFLOW_TRACKING_URI: 'http://127.0.0.1:1', MLFLOW_WEBHOOK_SECRET: '' });
  const response = await plain.app.inject({
    method: 'POST',
    url: '/mlflow/webhooks',
    payload: '{}',
    headers: { 'content-type': 'application/json' },
  });
  t.is(response.statusCode, 404);
  await plain.stop();
});

test('read endpoints answer, unknown ones 404', async (t) => {
  t.is((await app.inject('/health/liveness')).statusCode, 200);
  t.is((await app.inject('/health/readiness')).statusCode, 200);
  t.deepEqual((await app.inject('/status')).json(), { rollout: null });
  const metrics = await app.inject('/metrics');
  for (const name of [
    'promotions_total',
    'rejections_total',
    'rollbacks_total',
    'gate_duration_seconds',
    'rollout_in_progress',
    'last_training_success_timestamp_seconds',
  ]) {
    t.regex(metrics.body, new RegExp(`fraud_retrain_${name}`));
  }
  t.is((await app.inject({ method: 'POST', url: '/nope', payload: '{}' })).statusCode, 404);
  t.is((await app.inject({ method: 'GET', url: '/airflow/events' })).statusCode, 404);
});

test('configuration mistakes are named', (t) => {
  t.throws(() => testHook({ MLFLOW_TRACKING_URI: 'not a url' }), {
    message: /MLFLOW_TRACKING_URI must be a URL/,
  });
  t.throws(() => testHook({ MLFLOW_TRACKING_URI: 'http://x', AIRFLOW_HMAC_SECRET: 'short' }), {
    message: /at least 16/,
  });
  t.throws(() => testHook({ MLFLOW_TRACKING_URI: 'http://x', PORT: '-1' }), {
    message: /PORT must be an integer/,
  });
  t.throws(() => testHook({ MLFLOW_TRACKING_URI: 'http://x', POLICY_FILE: '/nonexistent.json' }), {
    message: /cannot read the policy file/,
  });
});
