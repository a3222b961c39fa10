import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { decide, GATE_METRICS } from '../src/gate.ts';
import { loadPolicy, parsePolicy } from '../src/policy.ts';

const shipped = loadPolicy(path.join(import.meta.dirname, '..', 'gate.json'));
const gate = shipped.gate;

const metricsArb = fc.record({
  [GATE_METRICS.prAuc]: fc.double({ min: 0, max: 1, noNaN: true }),
  [GATE_METRICS.recall]: fc.double({ min: 0, max: 1, noNaN: true }),
  // Ranges chosen so that a good share of draws pass and the properties say something about passes.
  [GATE_METRICS.championPrAuc]: fc.double({ min: 0, max: 0.7, noNaN: true }),
  [GATE_METRICS.championRecall]: fc.double({ min: 0, max: 0.5, noNaN: true }),
  [GATE_METRICS.latencyP95]: fc.double({ min: 0, max: 30, noNaN: true }),
  [GATE_METRICS.parity]: fc.constantFrom(1, 1, 1, 0),
  [GATE_METRICS.validation]: fc.constantFrom(1, 1, 1, 0),
});

test('the shipped gate.json is valid', (t) => {
  t.true(shipped.canary.traffic_percent > 0 && shipped.canary.traffic_percent < 100);
});

test('a policy file with mistakes is refused naming every mistake', (t) => {
  const file = path.join(os.tmpdir(), `bad-policy-${process.pid}.json`);
  writeFileSync(
    file,
    JSON.stringify({ gate: { ...gate, min_pr_auc: 2, surprise: 1 }, canary: { traffic_percent: 100 } }),
  );
  const error = t.throws(() => loadPolicy(file));
  t.regex(error.message, /gate\.min_pr_auc must be a number in \[0, 1\]/);
  t.regex(error.message, /gate\.surprise is unknown/);
  t.regex(error.message, /canary\.traffic_percent must be a number in \[1, 99\]/);
  t.regex(error.message, /canary\.observation_seconds must be/);
  writeFileSync(file, '{ not json');
  t.throws(() => loadPolicy(file), { message: /bad-policy/ });
  t.throws(() => parsePolicy([]), { message: /gate must be an object/ });
});

test('passing means no reasons; failing means at least one reason', (t) => {
  fc.assert(
    fc.property(metricsArb, (metrics) => {
      const decision = decide(metrics, gate);
      t.is(decision.passed, decision.reasons.length === 0);
    }),
  );
});

test('improving the candidate never turns a pass into a rejection', (t) => {
  fc.assert(
    fc.property(metricsArb, fc.double({ min: 0, max: 0.5, noNaN: true }), (metrics, delta) => {
      const better = {
        ...metrics,
        [GATE_METRICS.prAuc]: Math.min(1, (metrics[GATE_METRICS.prAuc] as number) + delta),
        [GATE_METRICS.recall]: Math.min(1, (metrics[GATE_METRICS.recall] as number) + delta),
        [GATE_METRICS.latencyP95]: Math.max(0, (metrics[GATE_METRICS.latencyP95] as number) - delta),
      };
      t.true(!decide(metrics, gate).passed || decide(better, gate).passed);
    }),
  );
});

test('each check names its metric when it fails', (t) => {
  const good = {
    pr_auc: 0.9,
    recall_at_target_precision: 0.8,
    champion_pr_auc: 0.9,
    champion_recall_at_target_precision: 0.8,
    onnx_latency_p95_ms: 1,
    parity_passed: 1,
    validation_passed: 1,
  };
  t.deepEqual(decide(good, gate).reasons, []);
  const { champion_pr_auc: _a, champion_recall_at_target_precision: _b, ...firstModel } = good;
  t.deepEqual(decide(firstModel, gate).notes, ['no champion to compare with']);
  const cases: [Partial<typeof good>, RegExp][] = [
    [
      { pr_auc: gate.min_pr_auc - 0.01, champion_pr_auc: gate.min_pr_auc - 0.01 },
      /pr_auc .* below the minimum/,
    ],
    [
      { recall_at_target_precision: 0, champion_recall_at_target_precision: 0 },
      /recall_at_target_precision .* below/,
    ],
    [{ onnx_latency_p95_ms: gate.max_p95_latency_ms + 1 }, /latency .* above the maximum/],
    [{ parity_passed: 0 }, /parity/],
    [{ validation_passed: 0 }, /data validation failed/],
    [{ champion_pr_auc: 0.9 + gate.max_regression.pr_auc + 0.01 }, /regresses .* champion/],
  ];
  for (const [change, reason] of cases) {
    const decision = decide({ ...good, ...change }, gate);
    t.false(decision.passed, JSON.stringify(change));
    t.regex(decision.reasons.join('; '), reason);
  }
  const { parity_passed: _p, ...noParity } = good;
  t.deepEqual(decide(noParity, gate).reasons, ['metric parity_passed missing from the training run']);
});
