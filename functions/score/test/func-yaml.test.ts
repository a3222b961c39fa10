import { readFileSync } from 'node:fs';
import test from 'ava';
import { parse } from 'yaml';

const func = parse(readFileSync(new URL('../func.yaml', import.meta.url), 'utf8')) as {
  specVersion: string;
  name: string;
  runtime: string;
  build: { builder: string };
  run: { envs: { name: string; value: string }[]; volumes: { emptyDir?: object; path: string }[] };
  deploy: {
    annotations?: Record<string, string>;
    healthEndpoints: { liveness: string; readiness: string };
    options: { scale: { min: number; max: number }; resources: { limits: { memory: string } } };
  };
};
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

test('func.yaml: typescript runtime, pack builder, name score', (t) => {
  t.regex(func.specVersion, /^\d+\.\d+\.\d+$/);
  t.is(func.name, 'score');
  t.is(func.runtime, 'typescript');
  t.is(func.build.builder, 'pack');
});

test('func.yaml: scale min 4 max 6 in deploy.options, never as autoscaling annotations', (t) => {
  t.is(func.deploy.options.scale.min, 4);
  t.is(func.deploy.options.scale.max, 6);
  const annotations = Object.keys(func.deploy.annotations ?? {});
  t.deepEqual(
    annotations.filter((a) => a.startsWith('autoscaling.knative.dev/')),
    [],
  );
});

test('func.yaml: health endpoints are the ones the server answers', (t) => {
  t.is(func.deploy.healthEndpoints.liveness, '/health/liveness');
  t.is(func.deploy.healthEndpoints.readiness, '/health/readiness');
});

test('func.yaml: envs use the DESIGN.md variable names and hold no secrets', (t) => {
  const known = new Set([
    'PORT',
    'MODEL_URI',
    'MLFLOW_TRACKING_URI',
    'MODEL_CACHE_DIR',
    'DECISION_THRESHOLD',
    'DECISION_SINK_URL',
    'DECISION_SINK_DELIVERY',
    'INFERENCE_WORKERS',
    'MAX_BATCH_SIZE',
    'MAX_BATCH_WAIT_US',
    'MAX_QUEUE',
  ]);
  for (const e of func.run.envs) {
    t.true(known.has(e.name), e.name);
    t.notRegex(e.name, /SECRET|TOKEN|PASSWORD|KEY/);
  }
  t.is(func.run.envs.find((e) => e.name === 'MODEL_CACHE_DIR')?.value.startsWith('/tmp/'), true);
  // ... and /tmp is a writable emptyDir, since the root filesystem is read-only.
  t.truthy(func.run.volumes.find((v) => v.path === '/tmp')?.emptyDir);
});

test('the buildpack path: build compiles, start runs dist/index.js, runtime deps are registry packages', (t) => {
  t.is(pkg.scripts.build, 'tsc -p tsconfig.build.json');
  t.is(pkg.scripts.start, 'node dist/index.js');
  for (const name of Object.keys(pkg.dependencies)) t.false(name.startsWith('@fraud/'), name);
});
