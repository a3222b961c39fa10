import { rmSync } from 'node:fs';
import net from 'node:net';
import test from 'ava';
import { newClusterId, startKafka } from '../src/kafka.ts';

test('startKafka runs a real broker that stores and serves a record, and stops', async (t) => {
  const kafka = await startKafka({ topics: [{ topic: 'smoke', partitions: 2 }] });
  t.log(`Kafka ${kafka.install.version} ready on ${kafka.bootstrap} in ${kafka.startupMs} ms`);
  try {
    t.regex(kafka.bootstrap, /^127\.0\.0\.1:\d+$/);
    const client = kafka.client('smoke-test');
    const admin = client.admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: ['smoke'] });
    await admin.disconnect();
    t.is(metadata.topics[0]?.partitions.length, 2);

    const producer = client.producer();
    await producer.connect();
    await producer.send({ topic: 'smoke', messages: [{ key: 'card-1', value: 'hello kafka' }] });
    await producer.disconnect();

    const consumer = client.consumer({ groupId: 'smoke' });
    await consumer.connect();
    await consumer.subscribe({ topic: 'smoke', fromBeginning: true });
    const received = await new Promise<{ key: string; value: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no record consumed within 20 s')), 20_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          resolve({ key: String(message.key), value: String(message.value) });
        },
      });
    });
    await consumer.disconnect();
    t.deepEqual(received, { key: 'card-1', value: 'hello kafka' });
  } finally {
    await kafka.stop();
  }
  t.not(
    kafka.process.child.exitCode === null && kafka.process.child.signalCode === null,
    true,
    'broker exited',
  );
});

test('a broker that cannot start fails with an error naming it and quoting its log', async (t) => {
  // Hold the port the broker wants, so it dies on bind.
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  let message = '';
  try {
    const err = await t.throwsAsync(startKafka({ port, startTimeoutMs: 45_000 }));
    message = err?.message ?? '';
    t.log(err?.message.split('\n').slice(0, 3).join(' / '));
    t.regex(err?.message ?? '', new RegExp(`^Kafka broker on 127\\.0\\.0\\.1:${port} failed to start`));
    t.regex(err?.message ?? '', /errors in .*kafka-\d+\.log:\n(.|\n)*Address already in use/);
  } finally {
    blocker.close();
    // A failed start keeps its data dir for diagnosis; this failure was on purpose.
    const dir = /(\/[^\s:]*fraud-kafka-[A-Za-z0-9]+)\//.exec(message)?.[1];
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

test('cluster ids never start with "-", which the storage tool would read as an option', (t) => {
  // A fixed sequence: the first draw encodes to "-..." (0xf8 → '-' in base64url), the second does not.
  const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x01)];
  const id = newClusterId(() => draws.shift() as Buffer);
  t.is(id, Buffer.alloc(16, 0x01).toString('base64url'));
  t.is(draws.length, 0, 'drew again after the id that started with "-"');
  t.true(Buffer.alloc(16, 0xf8).toString('base64url').startsWith('-'));
  for (let i = 0; i < 2000; i++) t.false(newClusterId().startsWith('-'));
});
