// --labels: the attack generator's ground truth. Units (arguments, the planner) and a run against a real broker.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startKafka } from '@fraud/testkit/kafka';
import { LABEL_TYPE, type Label, labelSchema, type Transaction } from '@fraud/transactions';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import test from 'ava';
import fc from 'fast-check';
import { parseArgs, UsageError } from '../attack/args.mts';
import { attack } from '../attack/cli.mts';
import { LabelPlanner, labelMessage } from '../attack/labels.mts';

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats.default(ajv);
const validLabel = ajv.compile(labelSchema);
const base = ['--count', '10'];

test('--labels options: defaults, and each mistake named', (t) => {
  t.is(parseArgs(base, {}).labels, undefined);
  t.deepEqual(parseArgs([...base, '--labels'], {}).labels, {
    topic: 'labels',
    labelDelaySeconds: 5,
    chargebackDelaySeconds: 30,
    coverage: 0.3,
  });
  const custom = parseArgs(
    [
      ...base,
      '--labels',
      '--labels-topic',
      'l2',
      '--label-delay',
      '0',
      '--chargeback-delay',
      '2.5',
      '--label-coverage',
      '1',
    ],
    {},
  );
  t.deepEqual(custom.labels, { topic: 'l2', labelDelaySeconds: 0, chargebackDelaySeconds: 2.5, coverage: 1 });
  const bad: [string[], RegExp][] = [
    [['--label-delay', '3'], /--label-delay need\(s\) --labels/],
    [['--labels', '--label-coverage', '1.5'], /--label-coverage must be within 0\.\.1/],
    [['--labels', '--label-coverage'], /--label-coverage must be within 0\.\.1/],
    [['--labels', '--chargeback-delay=-1'], /--chargeback-delay must be a {2}number >= 0/],
    [['--labels', '--labels-topic', 'a b'], /--labels-topic must be a Kafka topic name/],
  ];
  for (const [args, message] of bad) {
    t.throws(() => parseArgs([...base, ...args], {}), { instanceOf: UsageError, message }, args.join(' '));
  }
});

const tx = (i: number): Transaction => ({
  transaction_id: `tx-${i}`,
  card_id: `card_${i % 7}`,
  timestamp: '2026-12-02T10:00:00Z',
  amount: 10,
  merchant_category: 'grocery',
  hour: 10,
  card_present: true,
  distance_from_home_km: 1,
  velocity_1h: 0,
  amount_to_avg_ratio: 1,
  new_merchant: false,
  foreign: false,
});

test('the planner: every fraud is charged back, legit only when reviewed, delays within [0.5, 1.5] x mean (property)', (t) => {
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 100, noNaN: true }),
      fc.double({ min: 0, max: 1000, noNaN: true }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 50 }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      (coverage, labelDelaySeconds, chargebackDelaySeconds, frauds, seed) => {
        const planner = new LabelPlanner({ coverage, labelDelaySeconds, chargebackDelaySeconds, seed });
        const sentAt = 1_800_000_000_000;
        frauds.forEach((isFraud, i) => {
          const labels = planner.plan(tx(i), isFraud, sentAt);
          const chargebacks = labels.filter((l) => l.label.source === 'chargeback');
          if (chargebacks.length !== (isFraud ? 1 : 0))
            throw new Error('a fraud needs exactly one chargeback');
          for (const { at, label } of labels) {
            if (!validLabel(label)) throw new Error(ajv.errorsText(validLabel.errors));
            if (label.is_fraud !== isFraud || label.transaction_id !== `tx-${i}`)
              throw new Error('wrong truth');
            const mean = (label.source === 'chargeback' ? chargebackDelaySeconds : labelDelaySeconds) * 1000;
            const delay = at - sentAt;
            if (delay < Math.floor(0.5 * mean) || delay > Math.ceil(1.5 * mean))
              throw new Error(`delay ${delay}`);
            if (label.labeled_at !== new Date(at).toISOString())
              throw new Error('labeled_at is the due time');
          }
          if (coverage === 0 && labels.some((l) => l.label.source === 'analyst'))
            throw new Error('coverage 0');
          if (coverage === 1 && !labels.some((l) => l.label.source === 'analyst'))
            throw new Error('coverage 1');
        });
      },
    ),
  );
  // The reviewed share follows the coverage.
  const planner = new LabelPlanner({
    coverage: 0.3,
    labelDelaySeconds: 1,
    chargebackDelaySeconds: 1,
    seed: 42,
  });
  let reviewed = 0;
  for (let i = 0; i < 10_000; i++) reviewed += planner.plan(tx(i), false, 0).length;
  t.true(Math.abs(reviewed / 10_000 - 0.3) < 0.02, `reviewed share ${reviewed / 10_000}`);
});

test('labelMessage is a binary-mode dev.fraud.label.v1 CloudEvent keyed by card', (t) => {
  const label: Label = {
    transaction_id: 'tx-1',
    card_id: 'card_1',
    is_fraud: true,
    source: 'chargeback',
    labeled_at: '2026-12-02T10:00:00.000Z',
  };
  const m = labelMessage(label);
  t.is(m.key, 'card_1');
  t.deepEqual(JSON.parse(String(m.value)), label);
  t.like(m.headers, {
    ce_type: LABEL_TYPE,
    ce_source: '/attack-generator',
    ce_subject: 'card_1',
    ce_partitionkey: 'card_1',
    ce_specversion: '1.0',
    ce_time: label.labeled_at,
  });
});

test('--labels against a real broker: ground truth for every fraud sent, on the labels topic, after the delays', async (t) => {
  const kafka = await startKafka({ topics: ['transactions', 'labels'] });
  try {
    const options = parseArgs(
      [
        '--bootstrap',
        kafka.bootstrap,
        '--count',
        '300',
        '--rate',
        '300',
        '--fraud-ratio',
        '0.2',
        '--producers',
        '1',
        '--labels',
        '--label-delay',
        '0.5',
        '--chargeback-delay',
        '1.5',
        '--label-coverage',
        '0.4',
        '--report-dir',
        mkdtempSync(path.join(os.tmpdir(), 'attack-labels-')),
        '--quiet',
      ],
      {},
    );
    const quietOut = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
    const { summary } = await attack(options, quietOut);
    t.is(summary.acknowledged, 300);
    const frauds = 300 - (summary.patterns.legit ?? 0);
    t.true(frauds > 20, `${frauds} frauds sent`);
    const stats = summary.labels!;
    t.is(stats.errors, 0, stats.lastError);
    t.is(stats.published, stats.planned);
    t.is(stats.bySource.chargeback, frauds, 'one chargeback per fraud');

    const sent = new Map<string, number>(); // transaction id -> ce_time (ms)
    const labels: { label: Label; key: string; headers: Record<string, string>; at: number }[] = [];
    const consumer = kafka.client().consumer({ groupId: 'read-labels' });
    await consumer.connect();
    await consumer.subscribe({ topics: ['transactions', 'labels'], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`read ${sent.size} transactions and ${labels.length}/${stats.planned} labels`)),
        30_000,
      );
      void consumer.run({
        eachMessage: async ({ topic, message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
          if (topic === 'transactions') sent.set(headers.ce_id!, Date.parse(headers.ce_time!));
          else
            labels.push({
              label: JSON.parse(String(message.value)) as Label,
              key: String(message.key),
              headers,
              at: Number(message.timestamp),
            });
          if (sent.size >= 300 && labels.length >= stats.planned) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    const ids = new Set<string>();
    for (const { label, key, headers, at } of labels) {
      t.true(validLabel(label), ajv.errorsText(validLabel.errors));
      t.is(key, label.card_id);
      t.is(headers.ce_type, LABEL_TYPE);
      const sentAt = sent.get(label.transaction_id);
      t.truthy(sentAt, `label for ${label.transaction_id}, which was sent`);
      const delay = Date.parse(label.labeled_at) - sentAt!;
      const mean = label.source === 'chargeback' ? 1500 : 500;
      // ce_time is stamped just before the produce call, the plan just after it: allow a little either way.
      t.true(delay >= 0.5 * mean - 200 && delay <= 1.5 * mean + 500, `${label.source} delay ${delay} ms`);
      t.true(at >= Date.parse(label.labeled_at) - 50, 'published once due, not before');
      ids.add(headers.ce_id!);
    }
    t.is(ids.size, labels.length, 'label ids are unique');
    t.is(labels.filter((l) => l.label.is_fraud && l.label.source === 'chargeback').length, frauds);
  } finally {
    await kafka.stop();
  }
});
