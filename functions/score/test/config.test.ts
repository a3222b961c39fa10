import test from 'ava';
import { bundledModelDir, ConfigError, loadConfig } from '../src/config.ts';
import { PermanentModelError, parseModelUri } from '../src/model/source.ts';

test('defaults follow docs/DESIGN.md: port 8080, bundled model, /tmp cache, one worker', (t) => {
  const c = loadConfig({});
  t.is(c.port, 8080);
  t.is(c.modelUri, bundledModelDir);
  t.is(c.modelCacheDir, '/tmp/model-cache');
  t.is(c.inferenceWorkers, 1);
  t.is(c.decisionThreshold, undefined);
  t.is(c.decisionSinkUrl, undefined);
});

test('bad values name the variable', (t) => {
  const cases: Record<string, string>[] = [
    { PORT: 'eighty' },
    { PORT: '70000' },
    { INFERENCE_WORKERS: '0' },
    { MAX_BATCH_SIZE: '1.5' },
    { DECISION_THRESHOLD: '1.2' },
    { DECISION_THRESHOLD: 'NaN' },
    { DECISION_SINK_URL: 'kafka://x' },
    { MODEL_URI: 'models:/fraud-detector@champion' },
  ];
  for (const env of cases) {
    const name = Object.keys(env)[0] as string;
    const err = t.throws(() => loadConfig(env), { instanceOf: ConfigError });
    t.true(err?.message.includes(name === 'MODEL_URI' ? 'MLFLOW_TRACKING_URI' : name), err?.message);
  }
});

test('threshold override and sink URL are taken as given', (t) => {
  const c = loadConfig({ DECISION_THRESHOLD: '0.3', DECISION_SINK_URL: 'http://sink.local/ns/decisions/' });
  t.is(c.decisionThreshold, 0.3);
  t.is(c.decisionSinkUrl, 'http://sink.local/ns/decisions');
});

test('MODEL_URI forms: folder, models:/name@alias, models:/name/version', (t) => {
  t.deepEqual(parseModelUri('models:/fraud-detector@champion'), {
    kind: 'mlflow-alias',
    name: 'fraud-detector',
    alias: 'champion',
  });
  t.deepEqual(parseModelUri('models:/fraud-detector/12'), {
    kind: 'mlflow-version',
    name: 'fraud-detector',
    version: '12',
  });
  t.is(parseModelUri('./model').kind, 'local');
  for (const bad of [
    'models:/',
    'models:/x@',
    'models:/x/latest',
    'models:/x/0',
    'models:/a/b/c',
    's3://bucket/m',
    'models:/x@a@b',
  ])
    t.throws(() => parseModelUri(bad), { instanceOf: PermanentModelError }, bad);
});

test('DECISION_SINK_DELIVERY: after-reply by default, before-reply on request, anything else named', (t) => {
  t.is(loadConfig({}).decisionSinkDelivery, 'after-reply');
  t.is(loadConfig({ DECISION_SINK_DELIVERY: 'before-reply' }).decisionSinkDelivery, 'before-reply');
  const err = t.throws(() => loadConfig({ DECISION_SINK_DELIVERY: 'sometimes' }), {
    instanceOf: ConfigError,
  });
  t.regex(err?.message ?? '', /DECISION_SINK_DELIVERY must be after-reply or before-reply/);
});
