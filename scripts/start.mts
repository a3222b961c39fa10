#!/usr/bin/env -S npx tsx
// `npm start`: the local platform on the bundled model. Starts, in order, a Kafka broker (KRaft, topics from
// kafka/topics.yaml), the KafkaSink stand-in (POST CloudEvent -> `decisions`), the scorer (publishing its
// decisions to that sink), and the KafkaSource stand-in (`transactions` -> scorer, retries, dead letters);
// then PostgreSQL, the archive function and its KafkaSource stand-in (transactions, decisions, labels ->
// archive, dead letters to archive-dlq). Ctrl-C stops everything in reverse order.
//
//   npm start                    the whole local event path, with the archive
//   npm start -- --no-archive    without PostgreSQL and the archive
//   npm start -- --no-kafka      the scorer alone (HTTP only)
import { argv, chalk } from 'zx';
import { startLocalArchive, startLocalPostgres } from './local/archive.mts';
import { startDispatcher, startKafkaSinkBridge } from './local/dispatcher.mts';
import { startLocalKafka } from './local/kafka.mts';
import { startScorer } from './local/scorer.mts';

interface Stoppable {
  name: string;
  stop(): Promise<void>;
}
const running: Stoppable[] = [];
let stopping = false;

async function shutdown(reason: string, exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    console.log(`\n${reason}: stopping ${running.map((s) => s.name).join(', ') || 'nothing'} ...`);
    for (const service of running.reverse()) await service.stop().catch(() => {});
    console.log('stopped.');
  }
  process.exit(exitCode);
}
process.on('SIGINT', () => void shutdown('SIGINT', 0));
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

async function step<T extends { stop(): Promise<void> }>(name: string, start: () => Promise<T>): Promise<T> {
  const started = Date.now();
  process.stdout.write(`starting ${name} ... `);
  try {
    const service = await start();
    running.push({ name, stop: () => service.stop() });
    console.log(chalk.green(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`));
    return service;
  } catch (err) {
    console.log(chalk.red('failed'));
    console.error((err as Error).message);
    return shutdown(`${name} did not start`, 1);
  }
}

const withKafka = argv.kafka !== false;
const withArchive = withKafka && argv.archive !== false;
const port = Number(process.env.SCORER_PORT ?? 8080);

const kafka = withKafka ? await step('Kafka', () => startLocalKafka()) : undefined;
const sink = kafka
  ? await step('KafkaSink stand-in', () => startKafkaSinkBridge({ bootstrap: kafka.bootstrap }))
  : undefined;
// Inference inline on the scorer's main thread unless INFERENCE_MODE says otherwise: on a laptop the broker,
// the stand-ins and the attack share the cores, so a worker thread costs a postMessage round trip per batch
// and finds no idle core to run on (the local-path bench: ~20 % less scorer CPU per event, BENCHMARKS.md).
const inference = { INFERENCE_MODE: process.env.INFERENCE_MODE || 'inline' };
const scorer = await step('scorer', () =>
  startScorer({
    port,
    env: sink
      ? { ...inference, DECISION_SINK_URL: sink.url, DECISION_SINK_DELIVERY: 'before-reply' }
      : inference,
  }),
);
if (kafka) {
  await step('KafkaSource stand-in', () =>
    startDispatcher({ bootstrap: kafka.bootstrap, sinkUrl: `${scorer.url}/` }),
  );
}
const postgres = withArchive ? await step('PostgreSQL', () => startLocalPostgres()) : undefined;
const archive =
  kafka && postgres
    ? await step('archive', () => startLocalArchive({ databaseUrl: postgres.url }))
    : undefined;
if (kafka && archive) {
  // Unordered: every archive write is idempotent and order-free, as on the cluster (knative/base/archive-sources.yaml).
  await step("archive's KafkaSource stand-in", () =>
    startDispatcher({
      bootstrap: kafka.bootstrap,
      sinkUrl: `${archive.url}/`,
      topics: ['transactions', 'decisions', 'labels'],
      group: 'fraud-archive-local',
      deadLetterTopic: 'archive-dlq',
      ordering: 'unordered',
      name: 'archive-kafka-source-dispatcher',
    }),
  );
}

const readiness = (await (await fetch(`${scorer.url}/health/readiness`)).json()) as { reason?: string };
const example =
  '{"transaction_id":"tx-1","card_id":"card-1","timestamp":"2026-11-28T03:12:00Z","amount":950,' +
  '"merchant_category":"electronics","hour":3,"card_present":false,"distance_from_home_km":420,' +
  '"velocity_1h":6,"amount_to_avg_ratio":7.5,"new_merchant":true,"foreign":true}';
console.log(`
${chalk.green('local platform ready')}  ${readiness.reason ?? ''}
  CloudEvents      POST ${scorer.url}/
  plain JSON       POST ${scorer.url}/score
  KServe v2        ${scorer.url}/v2/models/fraud-detector  (POST .../infer)
  health           ${scorer.url}/health/readiness
  metrics          ${scorer.url}/metrics${
    kafka
      ? `
  Kafka            ${kafka.bootstrap}  topics: transactions -> decisions, dead letters: transactions-dlq
  attack           npm run attack -- --target kafka --rate 2000 --duration 30`
      : ''
  }${
    archive && postgres
      ? `
  archive          ${archive.url}/metrics (live model quality)  PostgreSQL ${postgres.url}
                   transactions, decisions, labels -> archive, dead letters: archive-dlq
  with labels      npm run attack -- --rate 200 --duration 60 --labels --label-delay 5 --chargeback-delay 20`
      : ''
  }
  logs             .cache/logs/

Try: curl -s ${scorer.url}/score -H 'content-type: application/json' -d '${example}'
Ctrl-C to stop.`);

void scorer.process.exited.then((code) => {
  if (stopping) return;
  console.error(chalk.red(`the scorer exited unexpectedly (code ${code}); log: ${scorer.process.logFile}`));
  console.error(scorer.process.tail());
  void shutdown('scorer exited', 1);
});
