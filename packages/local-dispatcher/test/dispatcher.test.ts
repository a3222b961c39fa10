// The local KafkaSource against a real broker and a real HTTP sink that can be told to fail.
import { type KafkaService, startKafka } from '@fraud/testkit/kafka';
import anyTest, { type TestFn } from 'ava';
import { CloudEvent, HTTP } from 'cloudevents';
import type { Message } from 'kafkajs';
import { startBridge } from '../src/bridge.ts';
import { Dispatcher, type DispatcherOptions } from '../src/dispatcher.ts';
import { transactionMessage } from '../src/transaction-event.ts';
import { eventually, type Received, startTestSink } from './helpers/sink.ts';
import { readTopic } from './helpers/topics.ts';

const test = anyTest as TestFn<{ kafka: KafkaService }>;

// Every test's topics, created once up front (concurrent createTopics calls race on a busy broker).
const sourcePartitions = { ordered: 2, unordered: 1, retry: 1, dlq: 1, wrap: 1, restart: 1 } as const;
type TestName = keyof typeof sourcePartitions;

test.before(async (t) => {
  t.context.kafka = await startKafka({
    partitions: 2,
    topics: [
      ...Object.entries(sourcePartitions).flatMap(([name, partitions]) => [
        { topic: `tx-${name}`, partitions },
        { topic: `tx-${name}-dlq`, partitions: 1 },
      ]),
      { topic: 'decisions-bridge', partitions: 1 },
    ],
  });
  t.log(`broker ready in ${t.context.kafka.startupMs} ms`);
});
test.after.always(async (t) => {
  await t.context.kafka?.stop();
});

function topics(name: TestName): { source: string; dlq: string } {
  return { source: `tx-${name}`, dlq: `tx-${name}-dlq` };
}

async function produce(kafka: KafkaService, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.client().producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();
}

const tx = (id: string, card: string) =>
  transactionMessage({ transaction_id: id, card_id: card, amount: 1 }, { source: '/test' });

function dispatcher(
  kafka: KafkaService,
  options: Partial<DispatcherOptions> & { topic: string; sinkUrl: string },
) {
  return new Dispatcher({
    bootstrap: kafka.bootstrap,
    topics: [options.topic],
    groupId: options.groupId ?? `group-${options.topic}`,
    initialOffset: 'earliest',
    sessionTimeoutMs: 6000,
    retry: { retries: 3, backoffDelayMs: 20, timeoutMs: 2000 },
    ...options,
  });
}

test('ordered delivery: binary-mode CloudEvents, one in flight per partition, order kept per card', async (t) => {
  const { kafka } = t.context;
  const { source } = topics('ordered');
  const sink = await startTestSink(() => 200, 15);
  const d = dispatcher(kafka, { topic: source, sinkUrl: sink.url, ordering: 'ordered' });
  const messages = Array.from({ length: 40 }, (_, i) => tx(`t-${i}`, `card-${i % 4}`));
  await produce(kafka, source, messages);
  await d.start();
  try {
    await eventually('40 events accepted', () => sink.accepted.size === 40);
    t.true(sink.maxConcurrent <= 2, `at most one in flight per partition, saw ${sink.maxConcurrent}`);
    const first = sink.received.find((r) => r.id === 't-0') as Received;
    t.is(first.type, 'dev.fraud.transaction.v1');
    t.is(first.headers['content-type'], 'application/json');
    t.is(first.headers['ce-subject'], 'card-0');
    t.deepEqual(JSON.parse(first.body.toString()), { transaction_id: 't-0', card_id: 'card-0', amount: 1 });
    for (let card = 0; card < 4; card++) {
      const order = sink.received
        .filter((r) => r.partitionkey === `card-${card}`)
        .map((r) => Number(r.id.slice(2)));
      t.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
        `card-${card} in order`,
      );
    }
  } finally {
    await d.stop();
    await sink.close();
  }
});

test('unordered delivery keeps several events of one partition in flight', async (t) => {
  const { kafka } = t.context;
  const { source } = topics('unordered');
  const sink = await startTestSink(() => 200, 30);
  const d = dispatcher(kafka, {
    topic: source,
    sinkUrl: sink.url,
    ordering: 'unordered',
    maxInFlightPerPartition: 8,
  });
  await produce(
    kafka,
    source,
    Array.from({ length: 40 }, (_, i) => tx(`u-${i}`, 'card-x')),
  );
  await d.start();
  try {
    await eventually('40 events accepted', () => sink.accepted.size === 40);
    t.true(sink.maxConcurrent > 1 && sink.maxConcurrent <= 8, `in flight ${sink.maxConcurrent}`);
  } finally {
    await d.stop();
    await sink.close();
  }
});

test('retryable answers (503, 429, 404) are retried with exponential backoff until accepted', async (t) => {
  const { kafka } = t.context;
  const { source, dlq } = topics('retry');
  const script = [503, 429, 404, 200];
  const sink = await startTestSink((r) => (r.id === 'flaky' ? (script[r.attempt - 1] ?? 200) : 200));
  const d = dispatcher(kafka, {
    topic: source,
    sinkUrl: sink.url,
    deadLetterTopic: dlq,
    retry: { retries: 5, backoffDelayMs: 60, timeoutMs: 2000 },
  });
  await produce(kafka, source, [tx('flaky', 'c1'), tx('after', 'c1')]);
  await d.start();
  try {
    await eventually('both accepted', () => sink.accepted.has('flaky') && sink.accepted.has('after'));
    const attempts = sink.received.filter((r) => r.id === 'flaky');
    t.is(attempts.length, 4);
    // Backoff doubles: at least 60, 120, 240 ms between attempts (linear would give 60, 120, 180).
    const gaps = attempts.slice(1).map((r, i) => r.at - (attempts[i] as Received).at);
    t.log(`gaps between attempts: ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`);
    for (const [i, gap] of gaps.entries()) t.true(gap >= 60 * 2 ** i - 5, `gap ${i} = ${gap} ms`);
    t.is(d.stats.deadLettered, 0);
    t.is(d.stats.retriedAttempts, 3);
    // 'after' shares the partition: ordered delivery holds it back until 'flaky' is done.
    t.true(
      sink.received.findIndex((r) => r.id === 'after') > sink.received.findLastIndex((r) => r.id === 'flaky'),
    );
  } finally {
    await d.stop();
    await sink.close();
  }
});

test('a non-retryable answer goes to the dead-letter topic at once with the error extensions', async (t) => {
  const { kafka } = t.context;
  const { source, dlq } = topics('dlq');
  const sink = await startTestSink((r) => (r.id === 'bad' ? 400 : r.id === 'down' ? 503 : 200));
  const d = dispatcher(kafka, {
    topic: source,
    sinkUrl: sink.url,
    deadLetterTopic: dlq,
    retry: { retries: 2, backoffDelayMs: 10, timeoutMs: 2000 },
  });
  await produce(kafka, source, [tx('bad', 'c1'), tx('down', 'c1'), tx('fine', 'c1')]);
  await d.start();
  try {
    const dead = await readTopic(kafka.client(), dlq, (r) => r.length >= 2);
    await eventually('the stream goes on', () => sink.accepted.has('fine'));
    t.is(sink.received.filter((r) => r.id === 'bad').length, 1, '400 is not retried');
    t.is(sink.received.filter((r) => r.id === 'down').length, 3, '503 is tried 1 + retries times');
    const byId = new Map(dead.map((r) => [r.headers.ce_id, r]));
    const bad = byId.get('bad');
    const down = byId.get('down');
    t.is(bad?.headers.ce_knativeerrorcode, '400');
    t.is(bad?.headers.ce_knativeerrordest, sink.url);
    t.regex(
      Buffer.from(bad?.headers.ce_knativeerrordata ?? '', 'base64').toString(),
      /test sink answered 400/,
    );
    t.is(bad?.headers.ce_type, 'dev.fraud.transaction.v1');
    t.is(bad?.key, 'c1');
    t.deepEqual(JSON.parse(String(bad?.value)), { transaction_id: 'bad', card_id: 'c1', amount: 1 });
    t.is(down?.headers.ce_knativeerrorcode, '503');
    t.is(d.stats.deadLettered, 2);
  } finally {
    await d.stop();
    await sink.close();
  }
});

test('records that are not CloudEvents are wrapped like the KafkaSource does; broken ones are dead-lettered', async (t) => {
  const { kafka } = t.context;
  const { source, dlq } = topics('wrap');
  const sink = await startTestSink();
  const d = dispatcher(kafka, { topic: source, sinkUrl: sink.url, deadLetterTopic: dlq });
  await produce(kafka, source, [
    { key: 'k1', value: 'plain text, no CloudEvent', headers: { 'content-type': 'text/plain' } },
    { key: 'k2', value: '{"x":1}', headers: { ce_specversion: '1.0', ce_type: 'broken' } }, // no id, no source
    tx('ok', 'c1'),
  ]);
  await d.start();
  try {
    await eventually('two deliveries', () => sink.accepted.size === 2);
    const wrapped = sink.received.find((r) => r.type === 'dev.knative.kafka.event') as Received;
    t.is(wrapped.id, 'partition:0/offset:0');
    t.is(wrapped.headers['ce-key'], 'k1');
    t.is(wrapped.headers['content-type'], 'text/plain');
    t.is(wrapped.body.toString(), 'plain text, no CloudEvent');
    const [dead] = await readTopic(kafka.client(), dlq, (r) => r.length >= 1);
    t.is(dead?.headers.ce_id, 'partition:0/offset:1');
    t.regex(
      Buffer.from(dead?.headers.ce_knativeerrordata ?? '', 'base64').toString(),
      /invalid CloudEvent record/,
    );
  } finally {
    await d.stop();
    await sink.close();
  }
});

test('offsets are committed only for finished events: a restart redelivers the unfinished ones only', async (t) => {
  const { kafka } = t.context;
  const { source, dlq } = topics('restart');
  let healthy = false;
  const sink = await startTestSink((r) => (r.id === 'stuck' && !healthy ? 503 : 200));
  const options = {
    topic: source,
    sinkUrl: sink.url,
    deadLetterTopic: dlq,
    groupId: `restart-${source}`,
    retry: { retries: 1000, backoffDelayMs: 20, backoffPolicy: 'linear' as const, timeoutMs: 2000 },
  };
  const first = dispatcher(kafka, options);
  await produce(kafka, source, [tx('a', 'c'), tx('b', 'c'), tx('stuck', 'c'), tx('c', 'c')]);
  await first.start();
  await eventually('stuck being retried', () => sink.received.filter((r) => r.id === 'stuck').length >= 3);
  await first.stop();
  t.deepEqual([...sink.accepted].sort(), ['a', 'b']);
  const before = sink.received.length;
  healthy = true;
  const second = dispatcher(kafka, options);
  await second.start();
  try {
    await eventually('the rest delivered', () => sink.accepted.has('c'));
    const redelivered = sink.received.slice(before).map((r) => r.id);
    t.deepEqual(redelivered, ['stuck', 'c']);
    t.is(second.stats.deadLettered, 0);
  } finally {
    await second.stop();
    await sink.close();
  }
});

test('the KafkaSink bridge produces binary CloudEvents keyed by partitionkey and rejects bad input with 400', async (t) => {
  const { kafka } = t.context;
  const topic = 'decisions-bridge';
  const bridge = await startBridge({ bootstrap: kafka.bootstrap, topic });
  try {
    const event = new CloudEvent({
      type: 'dev.fraud.decision.v1',
      source: '/score',
      id: 'd-1',
      subject: 'card-9',
      partitionkey: 'card-9',
      datacontenttype: 'application/json',
      data: { transaction_id: 't-9', decision: 'legit' },
    });
    const message = HTTP.binary(event);
    const ok = await fetch(bridge.url, {
      method: 'POST',
      headers: message.headers as Record<string, string>,
      body: message.body as string,
    });
    t.is(ok.status, 202);
    const notCe = await fetch(bridge.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    t.is(notCe.status, 400);
    t.regex(((await notCe.json()) as { error: string }).error, /not a valid CloudEvent/);
    const [record] = await readTopic(kafka.client(), topic, (r) => r.length >= 1);
    t.is(record?.key, 'card-9');
    t.is(record?.headers.ce_type, 'dev.fraud.decision.v1');
    t.is(record?.headers.ce_id, 'd-1');
    t.deepEqual(JSON.parse(String(record?.value)), { transaction_id: 't-9', decision: 'legit' });
    t.is(bridge.produced(), 1);
  } finally {
    await bridge.close();
  }
});
