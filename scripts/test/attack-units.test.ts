// The attack generator's pure parts: argument checks, load shapes and the pacer (fed a simulated clock).
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Transaction } from '@fraud/transactions';
import test from 'ava';
import fc from 'fast-check';
import { parseArgs, UsageError } from '../attack/args.mts';
import { progressLine } from '../attack/display.mts';
import { Pacer } from '../attack/pacer.mts';
import { makePayload } from '../attack/payload.mts';
import { renderHtml } from '../attack/report.mts';
import { LatencyWindow, runAttack } from '../attack/run.mts';
import { expectedCount, makeShape, ramp, ShapeError, spike, steady } from '../attack/shapes.mts';
import type { Target, TargetStats } from '../attack/targets.mts';

test('refuses to run without a duration or a count', (t) => {
  t.throws(() => parseArgs(['--rate', '100']), {
    instanceOf: UsageError,
    message: /refusing to run unbounded/,
  });
  t.throws(() => parseArgs(['--rate', 'max', '--duration', '5']), { message: /--rate max needs --count/ });
  t.notThrows(() => parseArgs(['--duration', '5']));
  t.notThrows(() => parseArgs(['--count', '10']));
});

test('bad options get a message naming the option', (t) => {
  const bad: [string[], RegExp][] = [
    [['--count', '10', '--rate', '0'], /--rate must be/],
    [['--count', '1.5'], /--count must be/],
    [['--count', '10', '--target', 'udp'], /--target must be kafka, http or both/],
    [['--count', '10', '--fraud-ratio', '2'], /--fraud-ratio must be within 0..1/],
    [['--count', '10', '--mix', 'legit=abc'], /--mix expects pattern=weight/],
    [['--count', '10', '--mode', 'xml'], /--mode must be binary or structured/],
    [['--count', '10', '--encoder', 'turbo'], /--encoder must be fast or kafkajs/],
    [['--count', '10', '--bootstrap', 'localhost'], /--bootstrap must be host:port/],
    [['--count', '10', '--url', 'not a url'], /--url must be an http/],
    [['--count', '10', '--until-alert', 'bad name!'], /--until-alert must be an alert name/],
    [['--count', '10', '--frobnicate'], /unknown option\(s\): --frobnicate/],
    [['--count', '10', '--shape', 'ramp', '--shape', 'spike'], /given more than once: --shape/],
  ];
  for (const [argv, message] of bad)
    t.throws(() => parseArgs(argv, {}), { instanceOf: UsageError, message }, argv.join(' '));
});

test('any argument list either parses to a bounded run or fails with a UsageError', (t) => {
  const token = fc.oneof(
    fc.constantFrom(
      '--rate',
      '--count',
      '--duration',
      '--shape',
      '--mix',
      '--target',
      '--seed',
      'max',
      '10',
      '-1',
      '0',
      'x',
    ),
    fc.string(),
  );
  fc.assert(
    fc.property(fc.array(token, { maxLength: 8 }), (argv) => {
      try {
        const o = parseArgs(argv, {});
        t.true(o.count !== undefined || o.durationSeconds !== undefined || o.shape.startsWith('profile:'));
      } catch (err) {
        t.true(err instanceof UsageError, String(err));
      }
    }),
    { numRuns: 300 },
  );
});

test('shapes: steady, ramp and spike ask for the expected number of events', (t) => {
  t.is(Math.round(expectedCount(steady(200), 10)), 2000);
  t.is(Math.round(expectedCount(ramp(1000, 10), 10)), 5000); // a triangle: rate * duration / 2
  t.is(ramp(1000, 10)(20), 1000); // steady after the ramp
  const s = spike(1000, { base: 100, every: 10, length: 2 });
  const levels = new Set(Array.from({ length: 100 }, (_, i) => s(i / 10)));
  t.deepEqual(
    [...levels].sort((a, b) => a - b),
    [100, 1000],
  );
  t.is(Math.round(expectedCount(s, 10)), 2 * 1000 + 8 * 100);
});

test('profile files: steps and linear segments; bad files are named with the step at fault', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'attack-profile-'));
  const good = path.join(dir, 'good.yaml');
  writeFileSync(good, '- { seconds: 2, rate: 100 }\n- { seconds: 4, from: 100, to: 500 }\n');
  const shape = makeShape(`profile:${good}`, 0, undefined);
  t.is(shape.lengthSeconds, 6);
  t.is(shape.rate(1), 100);
  t.is(shape.rate(4), 300);
  t.is(shape.rate(7), 0);
  t.is(Math.round(expectedCount(shape.rate, 6)), 200 + 1200);
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, '[{"seconds": 2, "rate": 100}, {"seconds": -1, "rate": 5}]');
  t.throws(() => makeShape(`profile:${bad}`, 0, undefined), {
    instanceOf: ShapeError,
    message: /bad\.json: step 2: seconds/,
  });
  writeFileSync(bad, '[{"seconds": 2}]');
  t.throws(() => makeShape(`profile:${bad}`, 0, undefined), {
    message: /step 1: needs either rate, or from and to/,
  });
  t.throws(() => makeShape(`profile:${path.join(dir, 'missing.yaml')}`, 0, undefined), {
    message: /cannot read profile/,
  });
  t.throws(() => makeShape('sawtooth', 10, 10), { message: /unknown shape "sawtooth"/ });
  t.true(
    parseArgs([`--shape`, `profile:${good}`], {}).shape.startsWith('profile:'),
    'a profile bounds the run',
  );
});

test('the pacer refuses unbounded runs', (t) => {
  t.throws(() => new Pacer({ rate: steady(10) }), { message: /refusing to run unbounded/ });
});

test('the pacer follows the integral of the rate within one event, whatever the tick pattern', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 50_000 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 5, maxLength: 200 }),
      (rate, ticksMs) => {
        const pacer = new Pacer({ rate: ramp(rate, 2), durationSeconds: 1000, maxBacklogSeconds: 1e9 });
        let now = 0;
        let sent = 0;
        for (const ms of ticksMs) {
          now += ms / 1000;
          sent += pacer.due(now);
          const want = expectedCount(ramp(rate, 2), now);
          t.true(Math.abs(sent - want) <= 1 + want * 1e-6, `at ${now}s sent ${sent}, want ${want}`);
        }
      },
    ),
    { numRuns: 50 },
  );
});

test('the pacer never exceeds the count, stops at the duration, and forgives a long stall', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 20_000 }), (count, rate) => {
      const pacer = new Pacer({ rate: steady(rate), count });
      let sent = 0;
      for (let s = 0.01; !pacer.done(s) && s < 100; s += 0.01) sent += pacer.due(s);
      t.is(sent, Math.min(count, sent));
      t.true(sent <= count);
    }),
    { numRuns: 50 },
  );
  const timed = new Pacer({ rate: steady(100), durationSeconds: 2 });
  t.is(timed.due(5), 200);
  t.true(timed.done(2));
  const stalled = new Pacer({ rate: steady(1000), durationSeconds: 100, maxBacklogSeconds: 2 });
  t.true(stalled.due(30) <= 2001, 'a 30 s stall owes at most 2 s of events');
});

test('the payload mix follows its weights and gives unique ids', (t) => {
  const payload = makePayload({
    seed: 7,
    fraudRatio: 0,
    mix: { legit: 0.5, card_testing: 0.5 },
    prefix: 'x',
  });
  const ids = new Set<string>();
  for (let i = 0; i < 4000; i++) ids.add(payload.next().tx.transaction_id);
  t.is(ids.size, 4000);
  const share = (payload.counts.card_testing ?? 0) / 4000;
  t.true(share > 0.45 && share < 0.55, `card_testing share ${share}`);
  t.throws(() => makePayload({ seed: 1, fraudRatio: 0, mix: { phishing: 1 }, prefix: 'x' }), {
    message: /unknown pattern/,
  });
  const plain = makePayload({ seed: 7, fraudRatio: 0, prefix: 'y' });
  for (let i = 0; i < 500; i++) plain.next();
  t.deepEqual(Object.keys(plain.counts), ['legit']);
});

test('progress line and HTML report carry the numbers, self-contained', (t) => {
  const sample = {
    t: 3,
    targetRate: 2000,
    sentRate: 1990,
    ackedRate: 1985,
    sent: 6000,
    acked: 5990,
    errors: 2,
    p50Ms: 1.5,
    p99Ms: 7.25,
    lag: 40,
    decisions: 5900,
    backlog: 0,
  };
  const line = progressLine(sample);
  for (const part of [
    'rate   1990/2000 ev/s',
    'sent 6000',
    'acked 5990',
    'errors 2',
    'lag 40',
    'decisions 5900',
    'p99 7.3 ms',
  ]) {
    t.true(line.includes(part), `${part} in ${line}`);
  }
  const html = renderHtml('run <1>', { sent: 6000 }, [sample, { ...sample, t: 4 }]);
  t.true(html.includes('<svg'));
  t.true(html.includes('run &lt;1&gt;'));
  t.false(/<script|https?:\/\/(?!www\.w3\.org)/.test(html), 'no scripts, no external URLs');
  t.is((html.match(/<figure>/g) ?? []).length, 3);
});

// A target that acknowledges at once: the run loop, pacer and lag gate are real, only the wire is not.
class InstantTarget implements Target {
  readonly name = 'instant';
  readonly stats: TargetStats = { sent: 0, acked: 0, errors: 0 };
  readonly inFlight = 0;
  readonly batchSize = 50;
  async connect(): Promise<void> {}
  send(events: Transaction[]): void {
    this.stats.sent += events.length;
    this.stats.acked += events.length;
  }
  async drain(): Promise<void> {}
  async close(): Promise<void> {}
}

test('--max-lag holds events back while the consumer lag is above it, and sends again once it falls', async (t) => {
  t.is(parseArgs(['--count', '10', '--max-lag', '500']).maxLag, 500);
  t.throws(() => parseArgs(['--count', '10', '--target', 'http', '--max-lag', '5']), {
    instanceOf: UsageError,
    message: /--max-lag reads the Kafka consumer lag/,
  });
  t.throws(() => parseArgs(['--count', '10', '--max-lag', '0']), { message: /--max-lag must be/ });

  const target = new InstantTarget();
  const payload = makePayload({ seed: 1, fraudRatio: 0.1, prefix: 'lag' });
  let lag = 10_000; // above the limit for the first ~2 s, then drained
  setTimeout(() => {
    lag = 0;
  }, 2300).unref();
  const result = await runAttack(
    { rate: 200, durationSeconds: 4, concurrency: 4, maxLag: 1000 },
    makeShape('steady', 200, 4),
    [target],
    payload,
    new LatencyWindow(),
    { lag: async () => lag },
  );
  // The first sample (t≈1 s) reads 10 000: from then until the lag drops the due events are dropped.
  t.true(result.heldBack >= 150, `held back ${result.heldBack}`);
  t.true(result.sent >= 200, `sent ${result.sent} (before the first sample and after the drain)`);
  t.true(result.sent + result.heldBack <= 801, `${result.sent} + ${result.heldBack} within 4 s at 200/s`);
  const without = await runAttack(
    { rate: 200, durationSeconds: 2, concurrency: 4 },
    makeShape('steady', 200, 2),
    [new InstantTarget()],
    payload,
    new LatencyWindow(),
    { lag: async () => 1e9 },
  );
  t.is(without.heldBack, 0, 'no --max-lag: the lag is only observed');
});
