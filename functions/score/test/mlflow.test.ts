// Loading from a REAL MLflow registry (testkit starts it): alias and version URIs, sha256 verification,
// the on-disk cache, and staying not-ready (with the reason) until the configured model exists.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RunningMlflow, startMlflow } from '@fraud/testkit/mlflow';
import test from 'ava';
import { sha256File } from '../src/model/source.ts';
import { registerVersion, setAlias } from './helpers/mlflow-registry.ts';
import { loadCard, requireModel } from './helpers/model.ts';
import { inProcess } from './helpers/server.ts';

const card = loadCard();
const onnx = readFileSync(path.join(requireModel(), 'model.onnx'));
const cardBytes = readFileSync(path.join(requireModel(), 'model-card.json'));
let mlflow: RunningMlflow;

test.before(async () => {
  // MLflow 3 takes seconds to start on an idle machine, minutes on a loaded CI box.
  mlflow = await startMlflow({ startTimeoutMs: 300_000 });
});
test.after.always(async () => {
  await mlflow?.stop();
});

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  return check();
}

test.serial(
  'models:/name@alias: not ready until the alias exists, then serves that version, cached on disk',
  async (t) => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'score-cache-'));
    const s = await inProcess(
      {
        MODEL_URI: 'models:/fraud-detector@champion',
        MLFLOW_TRACKING_URI: mlflow.url,
        MODEL_CACHE_DIR: cache,
      },
      false,
    );
    try {
      void s.scorer.load();
      t.true(await until(() => s.scorer.reason.includes('MLflow'), 10_000), s.scorer.reason);
      const notReady = await s.app.inject('/health/readiness');
      t.is(notReady.statusCode, 503);
      t.regex(notReady.json().reason, /fraud-detector|champion/);

      const version = await registerVersion(mlflow.url, 'fraud-detector', {
        'model.onnx': onnx,
        'model-card.json': cardBytes,
      });
      await setAlias(mlflow.url, 'fraud-detector', 'champion', version);
      t.true(await until(() => s.scorer.isReady(), 90_000), s.scorer.reason);
      const meta = (await s.app.inject(`/v2/models/${card.name}`)).json();
      t.deepEqual(meta.versions, [version]);
      const ready = (await s.app.inject('/health/readiness')).json();
      t.is(ready.model.sha256, card.onnx.sha256);
      t.is(await sha256File(path.join(cache, 'fraud-detector', version, 'model.onnx')), card.onnx.sha256);
    } finally {
      await s.close();
    }
  },
);

test.serial(
  'models:/name/version whose ONNX does not match its card: never served, reason given, nothing cached',
  async (t) => {
    const tampered = JSON.parse(cardBytes.toString()) as { onnx: { sha256: string } };
    tampered.onnx.sha256 = '0'.repeat(64);
    const version = await registerVersion(mlflow.url, 'fraud-detector', {
      'model.onnx': onnx,
      'model-card.json': Buffer.from(JSON.stringify(tampered)),
    });
    const cache = mkdtempSync(path.join(os.tmpdir(), 'score-cache-'));
    const s = await inProcess(
      {
        MODEL_URI: `models:/fraud-detector/${version}`,
        MLFLOW_TRACKING_URI: mlflow.url,
        MODEL_CACHE_DIR: cache,
      },
      false,
    );
    try {
      await s.scorer.load();
      t.false(s.scorer.isReady());
      t.regex(s.scorer.reason, new RegExp(`sha256 mismatch for models:/fraud-detector/${version}`));
      const res = await s.app.inject({ method: 'POST', url: '/score', payload: {} });
      t.is(res.statusCode, 503);
      t.regex(res.json().error, /sha256 mismatch/);
      t.throws(() => readFileSync(path.join(cache, 'fraud-detector', version, 'model.onnx')));
    } finally {
      await s.close();
    }
  },
);

test.serial('a damaged cached copy is downloaded again, never served', async (t) => {
  const cache = mkdtempSync(path.join(os.tmpdir(), 'score-cache-'));
  const env = {
    MODEL_URI: 'models:/fraud-detector/1',
    MLFLOW_TRACKING_URI: mlflow.url,
    MODEL_CACHE_DIR: cache,
  };
  const first = await inProcess(env);
  t.true(first.scorer.isReady(), first.scorer.reason);
  await first.close();
  const cached = path.join(cache, 'fraud-detector', '1', 'model.onnx');
  writeFileSync(cached, 'not a model');
  const second = await inProcess(env);
  try {
    t.true(second.scorer.isReady(), second.scorer.reason);
    t.is(await sha256File(cached), card.onnx.sha256);
  } finally {
    await second.close();
  }
});
