// The whole local event path against a real broker and the real scorer:
// transactions topic -> dispatcher -> scorer (POST /) -> DECISION_SINK_URL (bridge) -> decisions topic.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type KafkaService, startKafka } from '@fraud/testkit/kafka';
import { TransactionSource, withoutLabels } from '@fraud/transactions';
import anyTest, { type TestFn } from 'ava';
import type { Message } from 'kafkajs';
import { type Bridge, startBridge } from '../src/bridge.ts';
import { transactionMessage } from '../src/transaction-event.ts';
import { dispatcherProcess, scorerProcess } from './helpers/path.ts';
import { type ReadRecord, readTopic, recordCount } from './helpers/topics.ts';

const test = anyTest.serial as TestFn<{ kafka: KafkaService; bridge: Bridge; logDir: string }>;

test.before(async (t) => {
  const kafka = await startKafka({ partitions: 6 });
  t.log(`broker ready in ${kafka.startupMs} ms`);
  t.context.kafka = kafka;
  t.context.logDir = mkdtempSync(path.join(os.tmpdir(), 'fraud-path-'));
});
test.after.always(async (t) => {
  await t.context.kafka?.stop();
});

function transactions(seed: number, count: number, prefix: string): Message[] {
  const source = new TransactionSource({ seed, fraudRatio: 0.05, idPrefix: prefix });
  return Array.from({ length: count }, () =>
    transactionMessage(withoutLabels(source.next()), { source: '/path-test' }),
  );
}

async function produce(
  kafka: KafkaService,
  topic: string,
  messages: Message[],
  perSecond = 0,
): Promise<void> {
  const producer = kafka.client().producer();
  await producer.connect();
  const chunk = perSecond ? Math.max(1, Math.floor(perSecond / 10)) : messages.length;
  for (let i = 0; i < messages.length; i += chunk) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + chunk) });
    if (perSecond) await new Promise((r) => setTimeout(r, 100));
  }
  await producer.disconnect();
}

const decisionId = (r: ReadRecord) =>
  (JSON.parse(String(r.value)) as { transaction_id: string }).transaction_id;

async function setUp(t: { context: { kafka: KafkaService; logDir: string } }, name: string) {
  const { kafka, logDir } = t.context;
  const topics = { tx: `${name}-transactions`, decisions: `${name}-decisions`, dlq: `${name}-dlq` };
  await kafka.createTopics([
    { topic: topics.tx, partitions: 6 },
    { topic: topics.decisions, partitions: 6 },
    { topic: topics.dlq, partitions: 1 },
  ]);
  const bridge = await startBridge({ bootstrap: kafka.bootstrap, topic: topics.decisions });
  // before-reply: the configuration behind a KafkaSource (knative/base/score-service.yaml), where the scorer
  // acknowledges an event only once its decision is in the sink, so a SIGKILL cannot lose a committed one.
  const scorer = await scorerProcess({
    logDir,
    sinkUrl: bridge.url,
    env: { BODY_LIMIT_BYTES: '65536', DECISION_SINK_DELIVERY: 'before-reply' },
  });
  const dispatcher = await dispatcherProcess({
    logDir,
    env: {
      KAFKA_BOOTSTRAP: kafka.bootstrap,
      TOPICS: topics.tx,
      DEAD_LETTER_TOPIC: topics.dlq,
      GROUP_ID: `${name}-group`,
      SINK_URL: scorer.url,
      INITIAL_OFFSET: 'earliest',
      SESSION_TIMEOUT_MS: '6000',
      BACKOFF_DELAY_MS: '100',
    },
  });
  return { topics, bridge, scorer, dispatcher };
}

test('N transactions in, N decisions out; poisoned records end in the dead-letter topic and the stream goes on', async (t) => {
  const { kafka } = t.context;
  const { topics, bridge, scorer, dispatcher } = await setUp(t, 'clean');
  try {
    const good = transactions(7, 300, 'clean');
    const first = good.slice(0, 150);
    const rest = good.slice(150);
    const tx = JSON.parse(String(good[0]?.value)) as Record<string, unknown>;
    const poison: Message[] = [
      { key: 'p1', value: 'not a CloudEvent at all' },
      transactionMessage(
        { ...tx, transaction_id: 'poison-schema', card_id: 'p2', amount: 'lots' },
        { source: '/t' },
      ),
      transactionMessage(
        { ...tx, transaction_id: 'poison-huge', card_id: 'p3', note: 'x'.repeat(200_000) },
        { source: '/t' },
      ),
      {
        ...transactionMessage({ ...tx, transaction_id: 'poison-type', card_id: 'p4' }, { source: '/t' }),
        headers: {
          ...(transactionMessage({ ...tx, transaction_id: 'poison-type', card_id: 'p4' }, { source: '/t' })
            .headers as Record<string, string>),
          ce_datacontenttype: 'text/plain',
          'content-type': 'text/plain',
        },
      },
    ];
    await produce(kafka, topics.tx, [...first, ...poison, ...rest]);
    const decisions = await readTopic(
      kafka.client(),
      topics.decisions,
      (r) => new Set(r.map(decisionId)).size >= 300,
      90_000,
    );
    const dead = await readTopic(kafka.client(), topics.dlq, (r) => r.length >= 4, 30_000);
    const ids = new Set(decisions.map(decisionId));
    t.is(ids.size, 300, 'every good transaction has a decision');
    for (const m of good)
      t.true(ids.has((JSON.parse(String(m.value)) as { transaction_id: string }).transaction_id));
    const reasons = dead.map((r) => ({
      id: r.headers.ce_id,
      code: r.headers.ce_knativeerrorcode,
      reason: Buffer.from(r.headers.ce_knativeerrordata ?? '', 'base64').toString(),
    }));
    t.log(reasons.map((r) => `${r.id} -> ${r.code}: ${r.reason.slice(0, 100)}`).join('\n'));
    const byId = new Map(reasons.map((r) => [r.id, r]));
    t.is(dead.length, 4);
    t.regex(byId.get('poison-schema')?.code ?? '', /^4\d\d$/);
    t.regex(byId.get('poison-schema')?.reason ?? '', /amount/);
    t.is(byId.get('poison-huge')?.code, '413');
    t.is(byId.get('poison-type')?.code, '415');
    const wrapped = reasons.find((r) => r.id?.startsWith('partition:'));
    t.regex(wrapped?.code ?? '', /^4\d\d$/, 'the non-CloudEvent record was wrapped, delivered, rejected');
    // Duplicates are possible even without crashes (a sink retry after a slow acknowledgement): count them.
    const records = await recordCount(kafka.client(), topics.decisions);
    t.true(records >= 300);
    t.log(`decisions: ${records} records for ${ids.size} transactions (${records - ids.size} duplicates)`);
  } finally {
    await dispatcher.stop();
    await scorer.stop();
    await bridge.close();
  }
});

test('SIGKILL the dispatcher 3x and the scorer 3x mid-stream: none lost, duplicates counted', async (t) => {
  const { kafka } = t.context;
  const { topics, bridge, scorer, dispatcher } = await setUp(t, 'crash');
  const total = 1500;
  const messages = transactions(11, total, 'crash');
  try {
    const producing = produce(kafka, topics.tx, messages, 150); // 10 s of traffic
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 700));
      await dispatcher.kill();
      await dispatcher.start();
    }
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 700));
      await scorer.kill();
      await scorer.start();
    }
    await producing;
    const decisions = await readTopic(
      kafka.client(),
      topics.decisions,
      (r) => new Set(r.map(decisionId)).size >= total,
      120_000,
    ).catch((err: Error) => {
      t.log(err.message);
      return [] as ReadRecord[];
    });
    const decisionRecords = await recordCount(kafka.client(), topics.decisions);
    // On a timeout, read back every record there is, so the report names exactly what is missing.
    const all = decisions.length
      ? decisions
      : await readTopic(kafka.client(), topics.decisions, (r) => r.length >= decisionRecords, 30_000);
    const ids = new Set(all.map(decisionId));
    const dead = await readTopic(kafka.client(), topics.dlq, () => true, 3000).catch(
      () => [] as ReadRecord[],
    );
    const deadIds = new Set(dead.map((r) => r.headers.ce_id));
    const lost = messages
      .map((m) => (JSON.parse(String(m.value)) as { transaction_id: string }).transaction_id)
      .filter((id) => !ids.has(id) && !deadIds.has(id));
    t.log(
      `sent ${total}; decisions ${decisionRecords} records for ${ids.size} transactions; duplicates ${decisionRecords - ids.size}; dead letters ${dead.length}; lost ${lost.length}`,
    );
    t.deepEqual(lost, [], 'every transaction ends in a decision or a dead letter');
  } finally {
    await dispatcher.stop();
    await scorer.stop();
    await bridge.close();
  }
});
