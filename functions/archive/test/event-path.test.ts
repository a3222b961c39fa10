// The archive behind the KafkaSource stand-in (packages/local-dispatcher), as `npm start` and the cluster run
// it: the three topics in, good events archived, malformed ones and PANs dead-lettered to archive-dlq with the
// archive's status and message, nothing lost.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startKafka } from '@fraud/testkit/kafka';
import { startPostgres } from '@fraud/testkit/postgres';
import { waitUntil } from '@fraud/testkit/process';
import test from 'ava';
import { dispatcherProcess } from '../../../packages/local-dispatcher/test/helpers/path.ts';
import { decision, label, startTestArchive, transaction } from './helpers.ts';

const ce = (type: string, id: string, key: string) => ({
  'content-type': 'application/json',
  ce_specversion: '1.0',
  ce_id: id,
  ce_source: '/test',
  ce_type: type,
  ce_time: new Date().toISOString(),
  ce_subject: key,
  ce_partitionkey: key,
});

test('Kafka -> dispatcher -> archive: good events archived, bad ones in archive-dlq, nothing lost', async (t) => {
  const [pg, kafka] = await Promise.all([
    startPostgres(),
    startKafka({ topics: ['transactions', 'decisions', 'labels', { topic: 'archive-dlq', partitions: 1 }] }),
  ]);
  const archive = await startTestArchive(pg, 'archive_path');
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'archive-path-'));
  const dispatcher = await dispatcherProcess({
    logDir,
    env: {
      KAFKA_BOOTSTRAP: kafka.bootstrap,
      TOPICS: 'transactions,decisions,labels',
      DEAD_LETTER_TOPIC: 'archive-dlq',
      GROUP_ID: 'archive-test',
      SINK_URL: `${archive.url}/`,
      ORDERING: 'unordered',
      INITIAL_OFFSET: 'earliest',
    },
  });
  try {
    const producer = kafka.client().producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const txs = Array.from({ length: 50 }, () => transaction());
    await producer.send({
      topic: 'transactions',
      messages: [
        ...txs.map((tx) => ({
          key: tx.card_id,
          value: JSON.stringify(tx),
          headers: ce('dev.fraud.transaction.v1', tx.transaction_id, tx.card_id),
        })),
        { key: 'c', value: '{"not":"a transaction"}', headers: ce('dev.fraud.transaction.v1', 'bad-1', 'c') },
        {
          key: 'c',
          value: JSON.stringify(transaction('pan-1', { card_id: '4111111111111111' })),
          headers: ce('dev.fraud.transaction.v1', 'pan-1', 'c'),
        },
      ],
    });
    await producer.send({
      topic: 'decisions',
      messages: txs.map((tx) => ({
        key: tx.card_id,
        value: JSON.stringify(decision(tx.transaction_id)),
        headers: ce('dev.fraud.decision.v1', `d-${tx.transaction_id}`, tx.card_id),
      })),
    });
    await producer.send({
      topic: 'labels',
      messages: [
        ...txs.map((tx) => ({
          key: tx.card_id,
          value: JSON.stringify(label(tx.transaction_id)),
          headers: ce('dev.fraud.label.v1', `l-${tx.transaction_id}`, tx.card_id),
        })),
        {
          key: 'c',
          value: JSON.stringify(label('x', { source: 'gut-feeling' })),
          headers: ce('dev.fraud.label.v1', 'bad-2', 'c'),
        },
      ],
    });
    await producer.disconnect();

    const counts = async () =>
      await pg.psql(
        `select (select count(*) from archive.transactions) || ',' || (select count(*) from archive.decisions) || ',' || (select count(*) from archive.labels)`,
        'archive_path',
      );
    await waitUntil(
      undefined,
      'every good event archived',
      async () => (await counts()) === '50,50,50',
      60_000,
    );

    const consumer = kafka.client().consumer({ groupId: 'read-dlq' });
    await consumer.connect();
    await consumer.subscribe({ topic: 'archive-dlq', fromBeginning: true });
    const dead = new Map<string, Record<string, string>>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${dead.size} dead letters`)), 60_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
          dead.set(headers.ce_id!, headers);
          if (dead.size >= 3) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    t.deepEqual([...dead.keys()].sort(), ['bad-1', 'bad-2', 'pan-1']);
    t.is(dead.get('bad-1')?.ce_knativeerrorcode, '400');
    t.is(dead.get('pan-1')?.ce_knativeerrorcode, '422');
    const why = (id: string) =>
      Buffer.from(dead.get(id)?.ce_knativeerrordata ?? '', 'base64').toString('utf8');
    t.regex(why('pan-1'), /looks like a card number/);
    t.regex(why('bad-2'), /data\.source must be one of/);
    t.is(await counts(), '50,50,50', 'the bad events left no row behind');
  } finally {
    await dispatcher.stop();
    await archive.close();
    await kafka.stop();
    await pg.stop();
  }
});
