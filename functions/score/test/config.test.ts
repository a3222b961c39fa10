import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { bundledModelDir, ConfigError, loadConfig } from '../src/config.ts';
import { availableCpus, cgroupCpuQuota, resolveInferenceMode } from '../src/inference/cpus.ts';
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

test('INFERENCE_MODE: inline and workers as given, auto by the CPUs the process has, bad values named', (t) => {
  t.is(loadConfig({ INFERENCE_MODE: 'inline' }).inferenceMode, 'inline');
  t.is(loadConfig({ INFERENCE_MODE: 'workers' }).inferenceMode, 'workers');
  t.is(loadConfig({}).inferenceModeSetting, 'auto');
  t.is(resolveInferenceMode('auto', 1), 'inline');
  t.is(resolveInferenceMode('auto', 0.5), 'inline');
  t.is(resolveInferenceMode('auto', 2), 'inline');
  t.is(resolveInferenceMode('auto', 2.5), 'workers');
  t.is(resolveInferenceMode('auto', 4), 'workers');
  t.is(resolveInferenceMode('workers', 1), 'workers');
  const err = t.throws(() => loadConfig({ INFERENCE_MODE: 'threads' }), { instanceOf: ConfigError });
  t.regex(err?.message ?? '', /INFERENCE_MODE must be inline, workers or auto/);
});

test('cgroup CPU quota: v2 cpu.max, v1 cfs_quota_us/cfs_period_us, none when unlimited', (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cgroup-'));
  t.is(cgroupCpuQuota(root), undefined);
  writeFileSync(path.join(root, 'cpu.max'), 'max 100000\n');
  t.is(cgroupCpuQuota(root), undefined);
  writeFileSync(path.join(root, 'cpu.max'), '150000 100000\n');
  t.is(cgroupCpuQuota(root), 1.5);
  rmSync(path.join(root, 'cpu.max'));
  mkdirSync(path.join(root, 'cpu'));
  writeFileSync(path.join(root, 'cpu', 'cpu.cfs_quota_us'), '-1\n');
  writeFileSync(path.join(root, 'cpu', 'cpu.cfs_period_us'), '100000\n');
  t.is(cgroupCpuQuota(root), undefined);
  writeFileSync(path.join(root, 'cpu', 'cpu.cfs_quota_us'), '100000\n');
  t.is(cgroupCpuQuota(root), 1);
  t.is(availableCpus(root), Math.min(1, os.availableParallelism()));
  rmSync(root, { recursive: true });
});

test('MAX_BATCH_WAIT_US defaults to 0: batch only what is already queued', (t) => {
  t.is(loadConfig({}).maxBatchWaitUs, 0);
});

test('ports: PORT (Knative) or HTTP_PORT for REST, GRPC_PORT (default 8081) for gRPC, never the same', (t) => {
  t.is(loadConfig({}).grpcPort, 8081);
  t.is(loadConfig({ PORT: '9000' }).port, 9000);
  const grpcService = loadConfig({ PORT: '8081', HTTP_PORT: '8080', GRPC_PORT: '8081' });
  t.is(grpcService.port, 8080);
  t.is(grpcService.grpcPort, 8081);
  const err = t.throws(() => loadConfig({ PORT: '8081' }), { instanceOf: ConfigError });
  t.regex(err?.message ?? '', /GRPC_PORT must differ from the HTTP port \(8081\)/);
  t.is(loadConfig({ PORT: '0', GRPC_PORT: '0' }).grpcPort, 0);
});
