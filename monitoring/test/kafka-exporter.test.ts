import { startKafka } from '@fraud/testkit/kafka';
import test from 'ava';
import { startKafkaExporter } from '../src/kafka-exporter.ts';

test('the local Kafka exporter reports high watermarks and consumer lag like kafka_exporter', async (t) => {
  const kafka = await startKafka({ topics: [{ topic: 'transactions', partitions: 2 }, 'transactions-dlq'] });
  const exporter = await startKafkaExporter(kafka.bootstrap);
  t.teardown(async () => {
    await exporter.stop();
    await kafka.stop();
  });
  const producer = kafka.client('exporter-test').producer();
  await producer.connect();
  await producer.send({
    topic: 'transactions',
    messages: Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: `m${i}` })),
  });
  await producer.send({ topic: 'transactions-dlq', messages: [{ partition: 0, value: 'dead' }] });
  await producer.disconnect();

  // A group that read partition 0 up to offset 2 and committed; nothing on partition 1.
  const admin = kafka.client('exporter-test').admin();
  await admin.connect();
  await admin.setOffsets({
    groupId: 'score-transactions',
    topic: 'transactions',
    partitions: [{ partition: 0, offset: '2' }],
  });
  await admin.disconnect();

  const response = await fetch(`${exporter.url}/metrics`);
  t.is(response.status, 200);
  const body = await response.text();
  const value = (re: RegExp) => Number(body.match(re)?.[1] ?? Number.NaN);
  const high = (topic: string, p: number) =>
    value(
      new RegExp(`^kafka_topic_partition_current_offset\\{topic="${topic}",partition="${p}"\\} (\\d+)$`, 'm'),
    );
  const lag = (p: number) =>
    value(
      new RegExp(
        `^kafka_consumergroup_lag\\{consumergroup="score-transactions",topic="transactions",partition="${p}"\\} (\\d+)$`,
        'm',
      ),
    );
  t.true(high('transactions', 0) + high('transactions', 1) >= 10, body);
  t.true(high('transactions-dlq', 0) >= 1, body);
  t.is(lag(0), high('transactions', 0) - 2, 'committed partition: high watermark minus committed offset');
  t.is(lag(1), high('transactions', 1), 'nothing committed: everything retained is lag');
  t.notRegex(
    body,
    /consumergroup="score-transactions",topic="transactions-dlq"/,
    'a topic the group never read',
  );
  t.notRegex(body, /__consumer_offsets/);
  t.is((await fetch(`${exporter.url}/other`)).status, 404);
});
