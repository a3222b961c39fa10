// The attack generator against real services: a Kafka broker, an HTTP endpoint, a real Alertmanager.

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startAlertmanager } from '@fraud/testkit/alertmanager';
import { type KafkaService, startKafka } from '@fraud/testkit/kafka';
import anyTest, { type TestFn } from 'ava';
import { Kafka as CeKafka, type CloudEvent, type KafkaMessage } from 'cloudevents';
import { $ } from 'zx';
import { parseArgs } from '../attack/args.mts';
import { attack } from '../attack/cli.mts';

const test = anyTest as TestFn<{ kafka: KafkaService }>;
const reportDir = mkdtempSync(path.join(os.tmpdir(), 'attack-reports-'));
const quietOut = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

test.before(async (t) => {
  t.context.kafka = await startKafka({
    topics: [
      't-binary',
      't-structured',
      't-both',
      't-alert',
      't-exit',
      'decisions',
      { topic: 'transactions-dlq', partitions: 1 },
    ],
  });
});
test.after.always(async (t) => {
  await t.context.kafka?.stop();
});

/**
 * Every record of a topic, once each (a reader's own rebalance can replay some; offsets tell them apart).
 * Reads up to the topic's end offsets taken first, so duplicates written by producer retries are read too.
 */
async function readAll(kafka: KafkaService, topic: string) {
  const admin = kafka.client().admin();
  await admin.connect();
  const total = (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
  await admin.disconnect();
  const consumer = kafka.client().consumer({ groupId: `read-${topic}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const records = new Map<string, { key: string; headers: Record<string, string>; value: string }>();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${records.size}/${total} records read from ${topic}`)),
      30_000,
    );
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        records.set(`${partition}/${message.offset}`, {
          key: String(message.key),
          headers,
          value: String(message.value),
        });
        if (records.size >= total) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return { records: [...records.values()], total };
}

for (const [mode, producers] of [
  ['binary', '1'],
  ['structured', '2'],
] as const) {
  test(`--count 400 --rate 400 puts 400 valid ${mode} CloudEvents on Kafka (${producers} producer(s)), keyed by card, and writes the report`, async (t) => {
    const { kafka } = t.context;
    const options = parseArgs(
      [
        '--bootstrap',
        kafka.bootstrap,
        '--topic',
        `t-${mode}`,
        '--count',
        '400',
        '--rate',
        '400',
        '--mode',
        mode,
        '--producers',
        producers,
        '--report-dir',
        reportDir,
        '--fraud-ratio',
        '0.2',
      ],
      {},
    );
    const { summary, files } = await attack(options, quietOut);
    t.is(summary.sent, 400);
    t.is(summary.acknowledged, 400);
    t.is(summary.errors, 0);
    t.is(summary.encoder?.encoder, 'fast', `fast record encoder in use (${summary.encoder?.reason})`);
    t.true(summary.seconds >= 0.9, `400 events at 400/s take about a second, took ${summary.seconds}`);
    const { records, total } = await readAll(kafka, `t-${mode}`);
    // kafkajs' producer is not idempotent: when it retries a request the broker had already written (a slow
    // broker on a loaded machine), a batch lands twice. None may be lost; duplicates are counted, not hidden.
    t.true(total >= 400, `${total} records on the topic for 400 events: some were lost`);
    if (total > 400) t.log(`${total - 400} duplicate records from producer retries`);
    const ids = new Set<string>();
    for (const r of records) {
      const message: KafkaMessage<string> = {
        headers: r.headers,
        key: r.key,
        value: r.value,
        body: r.value,
      };
      const event = CeKafka.toEvent(message) as CloudEvent<unknown>;
      event.validate();
      t.is(event.type, 'dev.fraud.transaction.v1');
      t.is(event.subject, r.key);
      const data = (typeof event.data === 'string' ? JSON.parse(event.data) : event.data) as {
        transaction_id: string;
        card_id: string;
      };
      t.is(data.card_id, r.key);
      t.is(event.id, data.transaction_id);
      ids.add(event.id);
    }
    t.is(ids.size, 400, 'every one of the 400 transactions is on the topic');
    const report = JSON.parse(readFileSync(files.json, 'utf8')) as {
      samples: unknown[];
      summary: { sent: number };
    };
    t.is(report.summary.sent, 400);
    t.true(existsSync(files.html) && readFileSync(files.html, 'utf8').includes('<svg'));
  });
}

test('--target http posts binary CloudEvents at the set rate and counts failures as errors', async (t) => {
  let n = 0;
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/health')) return res.end('ok');
    req.resume();
    req.on('end', () => {
      n++;
      const ok =
        req.headers['ce-type'] === 'dev.fraud.transaction.v1' &&
        req.headers['content-type'] === 'application/json';
      res.writeHead(ok && n % 10 !== 0 ? 200 : 503).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const { summary } = await attack(
      parseArgs(
        ['--target', 'http', '--url', url, '--count', '200', '--rate', '200', '--report-dir', reportDir],
        {},
      ),
      quietOut,
    );
    t.is(n, 200);
    t.is(summary.errors, 20, 'every 10th answered 503');
    t.is(summary.acknowledged, 180);
    // --target both: the same rate shared by Kafka and HTTP.
    n = 0;
    const both = await attack(
      parseArgs(
        [
          '--target',
          'both',
          '--url',
          url,
          '--bootstrap',
          t.context.kafka.bootstrap,
          '--topic',
          't-both',
          '--count',
          '300',
          '--rate',
          '300',
          '--report-dir',
          reportDir,
        ],
        {},
      ),
      quietOut,
    );
    t.is(both.summary.sent, 300);
    t.true(n >= 100 && n <= 200, `HTTP got ${n} of 300`);
  } finally {
    server.close();
  }
});

test('--until-alert stops the attack once Alertmanager reports the alert firing', async (t) => {
  const { kafka } = t.context;
  const am = await startAlertmanager({
    config: { route: { receiver: 'null' }, receivers: [{ name: 'null' }] },
  });
  try {
    setTimeout(
      () => void am.post([{ labels: { alertname: 'FraudScorerSaturated', severity: 'warning' } }]),
      2500,
    );
    const { summary } = await attack(
      parseArgs(
        [
          '--bootstrap',
          kafka.bootstrap,
          '--topic',
          't-alert',
          '--rate',
          '50',
          '--duration',
          '60',
          '--until-alert',
          'FraudScorerSaturated',
          '--alertmanager-url',
          am.url,
          '--report-dir',
          reportDir,
        ],
        {},
      ),
      quietOut,
    );
    t.is(summary.stopReason, 'alert firing');
    t.true(
      (summary.alertAfterSeconds as number) >= 2 && (summary.alertAfterSeconds as number) < 15,
      `after ${summary.alertAfterSeconds} s`,
    );
    t.true(summary.seconds < 20, 'stopped long before the 60 s duration');
  } finally {
    await am.stop();
  }
});

test('the CLI refuses an unbounded run with a clear message and exit code 2', async (t) => {
  const r = await $({
    nothrow: true,
    quiet: true,
  })`npx tsx ${path.join(import.meta.dirname, '..', 'attack', 'cli.mts')} --rate 100`;
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /refusing to run unbounded/);
});

// A sample still querying the consumer lag when the run ended used to race the admin's disconnect: kafkajs
// reconnected for it and the open socket kept the finished CLI alive forever (2 of 9 runs hung).
test('the CLI exits once a --rate max run is reported, every time', async (t) => {
  const cli = path.join(import.meta.dirname, '..', 'attack', 'cli.mts');
  const { bootstrap } = t.context.kafka;
  for (let run = 1; run <= 4; run++) {
    const r = await $({
      nothrow: true,
      quiet: true,
      timeout: 90_000,
    })`npx tsx ${cli} --target kafka --bootstrap ${bootstrap} --topic t-exit --rate max --count 20000 --quiet --report-dir ${reportDir}`;
    t.is(r.exitCode, 0, `run ${run}: ${r.signal ? `still running after 90 s (${r.signal})` : r.stderr}`);
    t.is((JSON.parse(r.stdout) as { acknowledged: number }).acknowledged, 20000, `run ${run}`);
  }
});
