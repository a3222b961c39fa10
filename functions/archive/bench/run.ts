// `npm run bench --workspace functions/archive [-- --quick]`: can the archive keep up with the event path?
//
// 1. The local event path's decision rate, measured now: transactions on Kafka -> dispatcher (unordered) ->
//    scorer -> KafkaSink stand-in -> decisions.
// 2. Archive ingest per event type through the same path: each topic -> dispatcher (unordered) -> archive ->
//    PostgreSQL (durable: fsync on), rows/s until every row is in the table; ratio to (1).
// 3. Archive capacity per type without the dispatcher: HTTP binary CloudEvents straight at it, 64 in flight.
// 4. The training extract (CONTRACT: transactions left join labels over an occurred_at window) over 1M rows
//    (100k with --quick), streamed with COPY to /dev/null.
// Numbers move with the machine's load (printed); compare within one run only.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startKafka } from '@fraud/testkit/kafka';
import { freePort } from '@fraud/testkit/ports';
import { startPostgres } from '@fraud/testkit/postgres';
import { startProcess, waitUntil } from '@fraud/testkit/process';
import { TransactionSource, withoutLabels } from '@fraud/transactions';
import { startBridge } from '../../../packages/local-dispatcher/src/bridge.ts';
import { transactionMessage } from '../../../packages/local-dispatcher/src/transaction-event.ts';
import { dispatcherProcess, scorerProcess } from '../../../packages/local-dispatcher/test/helpers/path.ts';
import { labelMessage } from '../../../scripts/attack/labels.mts';

const quick = process.argv.includes('--quick');
const n = quick ? 3000 : 10_000;
const extractRows = quick ? 100_000 : 1_000_000;
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
const logDir = mkdtempSync(path.join(os.tmpdir(), 'archive-bench-'));
const results: Record<string, number> = {};

const pg = await startPostgres({ database: 'archive', durable: true });
const kafka = await startKafka({
  partitions: 6,
  topics: ['transactions', 'decisions', { topic: 'labels', partitions: 12 }, { topic: 'dlq', partitions: 1 }],
});
console.log(
  `PostgreSQL ${pg.install.major} (fsync on), Kafka ${kafka.install.version}; ${n} events per type; load ${load()}`,
);

const port = await freePort();
const archiveUrl = `http://127.0.0.1:${port}`;
const archive = startProcess({
  name: 'archive',
  command: process.execPath,
  args: ['--import=tsx', 'src/index.ts'],
  cwd: path.resolve(import.meta.dirname, '..'),
  env: { PORT: String(port), DATABASE_URL: pg.url, ARCHIVE_QUALITY_INTERVAL: '1h' },
  logDir,
});
const count = async (table: string) =>
  Number(await pg.psql(`select count(*) from archive.${table}`, 'archive'));

try {
  await waitUntil(
    archive,
    'archive ready',
    async () => (await fetch(`${archiveUrl}/health/readiness`)).ok,
    60_000,
  );

  // The events: one seeded stream of transactions, their decisions come from the scorer, labels for all.
  const source = new TransactionSource({ seed: 42, idPrefix: `bench-${Date.now()}` });
  const rows = Array.from({ length: n }, () => source.next());
  const producer = kafka.client('archive-bench').producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const produce = async (topic: string, messages: Parameters<typeof producer.send>[0]['messages']) => {
    for (let i = 0; i < messages.length; i += 500) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
    }
  };

  // 1. The decision rate of the local event path.
  const bridge = await startBridge({ bootstrap: kafka.bootstrap, topic: 'decisions' });
  const scorer = await scorerProcess({ logDir, sinkUrl: bridge.url });
  const scoreDispatcher = await dispatcherProcess({
    logDir,
    env: {
      KAFKA_BOOTSTRAP: kafka.bootstrap,
      TOPICS: 'transactions',
      DEAD_LETTER_TOPIC: 'dlq',
      GROUP_ID: 'bench-score',
      SINK_URL: scorer.url,
      ORDERING: 'unordered',
      INITIAL_OFFSET: 'earliest',
      MAX_IN_FLIGHT_PER_PARTITION: '16',
    },
  });
  let started = performance.now();
  const time = new Date().toISOString();
  await produce(
    'transactions',
    rows.map((r) => transactionMessage(withoutLabels(r), { source: '/bench', time })),
  );
  while (bridge.produced() < n && performance.now() - started < 600_000)
    await new Promise((r) => setTimeout(r, 50));
  results.decisionsPerSecond = bridge.produced() / ((performance.now() - started) / 1000);
  console.log(
    `\n1. event path: ${bridge.produced()} decisions, ${results.decisionsPerSecond.toFixed(0)} decisions/s (load ${load()})`,
  );
  await scoreDispatcher.stop();
  await scorer.stop();
  await bridge.close();

  const labels = rows.map((r, i) =>
    labelMessage({
      transaction_id: r.transaction_id,
      card_id: r.card_id,
      is_fraud: r.is_fraud === 1,
      source: i % 3 === 0 ? 'chargeback' : 'analyst',
      labeled_at: new Date(Date.now() + i).toISOString(),
    }),
  );
  await produce('labels', labels);

  // 2. Archive ingest through the local path, one topic at a time.
  console.log(
    '\n2. archive ingest through Kafka -> dispatcher (unordered, 16 in flight per partition) -> archive',
  );
  for (const [topic, table] of [
    ['transactions', 'transactions'],
    ['decisions', 'decisions'],
    ['labels', 'labels'],
  ] as const) {
    const before = await count(table);
    started = performance.now();
    const dispatcher = await dispatcherProcess({
      logDir,
      env: {
        KAFKA_BOOTSTRAP: kafka.bootstrap,
        TOPICS: topic,
        DEAD_LETTER_TOPIC: 'dlq',
        GROUP_ID: `bench-archive-${topic}`,
        SINK_URL: `${archiveUrl}/`,
        ORDERING: 'unordered',
        INITIAL_OFFSET: 'earliest',
        MAX_IN_FLIGHT_PER_PARTITION: '16',
      },
    });
    const joined = performance.now();
    while ((await count(table)) - before < n && performance.now() - started < 600_000) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const secs = (performance.now() - joined) / 1000;
    const got = (await count(table)) - before;
    const rate = got / secs;
    results[`${table}ViaDispatcherPerSecond`] = rate;
    console.log(
      `   ${table.padEnd(12)} ${got} rows in ${secs.toFixed(1)} s = ${rate.toFixed(0)} rows/s, ${(rate / results.decisionsPerSecond).toFixed(2)}x the decision rate (load ${load()})`,
    );
    await dispatcher.stop();
  }
  await producer.disconnect();

  // 3. Archive capacity per type: HTTP straight at it.
  console.log('\n3. archive capacity: binary CloudEvents over HTTP, 64 in flight, fresh ids');
  const extra = new TransactionSource({ seed: 7, idPrefix: `http-${Date.now()}` });
  const httpRows = Array.from({ length: n }, () => withoutLabels(extra.next()));
  const bodies: Record<string, { type: string; data: unknown }[]> = {
    transactions: httpRows.map((tx) => ({ type: 'dev.fraud.transaction.v1', data: tx })),
    decisions: httpRows.map((tx) => ({
      type: 'dev.fraud.decision.v1',
      data: {
        transaction_id: tx.transaction_id,
        card_id: tx.card_id,
        fraud_probability: 0.1,
        decision: 'legit',
        threshold: 0.5,
        model: { name: 'fraud-detector', version: 'bench', sha256: '0'.repeat(64) },
      },
    })),
    labels: httpRows.map((tx, i) => ({
      type: 'dev.fraud.label.v1',
      data: {
        transaction_id: tx.transaction_id,
        card_id: tx.card_id,
        is_fraud: false,
        source: 'analyst',
        labeled_at: new Date(Date.now() + i).toISOString(),
      },
    })),
  };
  for (const [table, events] of Object.entries(bodies)) {
    let next = 0;
    let failed = 0;
    started = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < events.length) {
          const e = events[next++]!;
          const r = await fetch(`${archiveUrl}/`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'ce-specversion': '1.0',
              'ce-id': `${table}-${next}`,
              'ce-source': '/bench',
              'ce-type': e.type,
              'ce-time': new Date().toISOString(),
            },
            body: JSON.stringify(e.data),
          });
          await r.arrayBuffer();
          if (r.status !== 202) failed++;
        }
      }),
    );
    const rate = events.length / ((performance.now() - started) / 1000);
    results[`${table}HttpPerSecond`] = rate;
    console.log(
      `   ${table.padEnd(12)} ${rate.toFixed(0)} rows/s (${failed} not 202), ${(rate / results.decisionsPerSecond).toFixed(2)}x the decision rate (load ${load()})`,
    );
  }

  // 4. The training extract over a window of extractRows archived transactions, half of them labelled.
  console.log(`\n4. training extract: ${extractRows} archived transactions in the window`);
  started = performance.now();
  await pg.psql(
    `insert into archive.transactions (transaction_id, card_id, occurred_at, amount, payload)
     select 'x-' || g, 'card_' || (g % 50000), timestamp '2026-01-01' + g * interval '1 second', (g % 1000) + 0.5,
            jsonb_build_object('transaction_id', 'x-' || g, 'card_id', 'card_' || (g % 50000),
              'timestamp', to_char(timestamp '2026-01-01' + g * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
              'amount', (g % 1000) + 0.5, 'merchant_category', 'grocery', 'hour', g % 24, 'card_present', g % 2 = 0,
              'distance_from_home_km', g % 300, 'velocity_1h', g % 7, 'amount_to_avg_ratio', 1.2,
              'new_merchant', g % 5 = 0, 'foreign', g % 11 = 0)
     from generate_series(1, ${extractRows}) g;
     insert into archive.labels (transaction_id, card_id, is_fraud, source, labeled_at)
     select 'x-' || g, 'card_' || (g % 50000), g % 50 = 0, 'analyst', timestamp '2026-02-01' from generate_series(1, ${extractRows}, 2) g;
     analyze archive.transactions; analyze archive.labels;`,
    'archive',
  );
  console.log(`   loaded in ${((performance.now() - started) / 1000).toFixed(1)} s (SQL generate_series)`);
  const windowEnd = `timestamp '2026-01-01' + ${extractRows + 1} * interval '1 second'`;
  const extract = `copy (select t.transaction_id, t.occurred_at, t.payload, coalesce(l.is_fraud, false) as is_fraud
    from archive.transactions t left join archive.labels l using (transaction_id)
    where t.occurred_at >= timestamp '2026-01-01' and t.occurred_at < ${windowEnd}) to stdout`;
  for (let round = 1; round <= 2; round++) {
    started = performance.now();
    const bytes = await new Promise<number>((resolve, reject) => {
      const child = spawn(
        path.join(pg.install.binDir, 'psql'),
        [
          '-h',
          pg.host,
          '-p',
          String(pg.port),
          '-U',
          'postgres',
          '-d',
          'archive',
          '-X',
          '-q',
          '-v',
          'ON_ERROR_STOP=1',
          '-c',
          extract,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let total = 0;
      child.stdout.on('data', (d: Buffer) => {
        total += d.length;
      });
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve(total) : reject(new Error(`psql exited ${code}`))));
    });
    const secs = (performance.now() - started) / 1000;
    results[`extractSeconds${round}`] = secs;
    console.log(
      `   round ${round}: ${secs.toFixed(2)} s for ${extractRows} rows (${(bytes / 1e6).toFixed(0)} MB, ${(extractRows / secs).toFixed(0)} rows/s) (load ${load()})`,
    );
  }
  console.log(
    `\n${JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Number(v.toFixed(2))])))}`,
  );
} finally {
  await archive.stop();
  await kafka.stop();
  await pg.stop();
}
