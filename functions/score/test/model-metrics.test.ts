// The card facts the alerts compare against (monitoring/rules/model.yaml): the served model's baseline fraud
// rate and when it was trained, labelled with the model, replaced when another model is loaded, absent when
// the card does not state them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { baselineFraudRate, trainedAtSeconds } from '../src/metrics.ts';
import type { ModelCard } from '../src/model/card.ts';
import { modelCopy, requireModel } from './helpers/model.ts';
import { type InProcess, inProcess } from './helpers/server.ts';

const rawCard = JSON.parse(readFileSync(path.join(requireModel(), 'model-card.json'), 'utf8')) as {
  name: string;
  version: string;
  created_at: string;
  baseline: { fraud_rate_at_threshold: number };
  metrics: { recall_at_threshold: number };
};

/** Every sample of a metric in the exposition text, as "labels value" lines. */
function samples(text: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = line.match(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`));
    if (match) found.set(match[1] ?? '', Number(match[2]));
  }
  return found;
}

async function metricsOf(s: InProcess): Promise<string> {
  const res = await s.app.inject('/metrics');
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`);
  return res.body;
}

// One prom-client registry per process: the tests load models one after another on it.
test.serial('the bundled card: baseline fraud rate and trained time, labelled like model_info', async (t) => {
  const s = await inProcess();
  t.teardown(() => s.close());
  const text = await metricsOf(s);
  const labels = `{name="${rawCard.name}",version="${rawCard.version}"}`;
  t.deepEqual(
    samples(text, 'fraud_scorer_model_baseline_fraud_rate'),
    new Map([[labels, rawCard.baseline.fraud_rate_at_threshold]]),
  );
  t.deepEqual(
    samples(text, 'fraud_scorer_model_trained_timestamp_seconds'),
    new Map([[labels, Date.parse(rawCard.created_at) / 1000]]),
  );
  t.deepEqual(
    samples(text, 'fraud_scorer_model_holdout_recall'),
    new Map([[labels, rawCard.metrics.recall_at_threshold]]),
  );
  // The bundled model as committed: name, a ~2% baseline, trained on the day the card says.
  t.is(rawCard.name, 'fraud-detector');
  t.true(rawCard.baseline.fraud_rate_at_threshold > 0.005 && rawCard.baseline.fraud_rate_at_threshold < 0.05);
  t.regex(text, /^# TYPE fraud_scorer_model_baseline_fraud_rate gauge$/m);
  t.regex(text, /^# TYPE fraud_scorer_model_trained_timestamp_seconds gauge$/m);
});

test.serial('loading another model replaces the series: no sample of the old model is left', async (t) => {
  const dir = modelCopy((card) => {
    card.name = 'creditcard-detector';
    card.version = '7';
    card.created_at = '2026-01-02T03:04:05+01:00';
    (card.baseline as Record<string, unknown>).fraud_rate_at_threshold = 0.28;
  });
  const s = await inProcess({ MODEL_URI: dir });
  t.teardown(() => s.close());
  const text = await metricsOf(s);
  const labels = '{name="creditcard-detector",version="7"}';
  t.deepEqual(samples(text, 'fraud_scorer_model_baseline_fraud_rate'), new Map([[labels, 0.28]]));
  t.deepEqual(
    samples(text, 'fraud_scorer_model_trained_timestamp_seconds'),
    new Map([[labels, Date.UTC(2026, 0, 2, 2, 4, 5) / 1000]]),
  );
  t.deepEqual(
    [...samples(text, 'fraud_scorer_model_info').keys()].map((l) => l.replace(/,sha256="[^"]*"/, '')),
    [labels],
  );
});

test.serial(
  'a card without the facts (or with unusable ones) serves, and exports no such series',
  async (t) => {
    const dir = modelCopy((card) => {
      card.version = '8';
      card.created_at = '28/11/2026 04:40'; // not RFC 3339: refused rather than read in a guessed zone
      (card.baseline as Record<string, unknown>).fraud_rate_at_threshold = undefined;
      (card.metrics as Record<string, unknown>).recall_at_threshold = 1.5; // not a share: refused
    });
    const s = await inProcess({ MODEL_URI: dir });
    t.teardown(() => s.close());
    t.true(s.scorer.isReady());
    const text = await metricsOf(s);
    t.is(samples(text, 'fraud_scorer_model_baseline_fraud_rate').size, 0);
    t.is(samples(text, 'fraud_scorer_model_trained_timestamp_seconds').size, 0);
    t.is(samples(text, 'fraud_scorer_model_holdout_recall').size, 0);
    t.is(samples(text, 'fraud_scorer_model_info').size, 1);
  },
);

test('card facts: what is read and what is refused', (t) => {
  const card = (facts: Record<string, unknown>) => facts as unknown as ModelCard;
  t.is(trainedAtSeconds(card({ created_at: '2026-11-28T04:40:43Z' })), 1795840843);
  t.is(trainedAtSeconds(card({ created_at: '2026-11-28T04:40:43.5-02:00' })), 1795840843.5 + 7200);
  for (const createdAt of [
    '2026-11-28',
    '2026-11-28T04:40:43',
    'yesterday',
    1795840843,
    null,
    '2026-13-45T99:99:99Z',
  ])
    t.is(trainedAtSeconds(card({ created_at: createdAt })), undefined, String(createdAt));
  t.is(baselineFraudRate(card({ baseline: { fraud_rate_at_threshold: 0 } })), 0);
  t.is(baselineFraudRate(card({ baseline: { fraud_rate_at_threshold: 0.28 } })), 0.28);
  for (const rate of [-0.1, 1.5, '0.02', Number.NaN, null])
    t.is(baselineFraudRate(card({ baseline: { fraud_rate_at_threshold: rate } })), undefined, String(rate));
  t.is(baselineFraudRate(card({})), undefined);
});
