#!/usr/bin/env -S npx tsx
// `npm start`: the local platform on the bundled model. Starts, in order, a Kafka broker (KRaft, topics from
// kafka/topics.yaml), the KafkaSink stand-in (POST CloudEvent -> `decisions`), the scorer (publishing its
// decisions to that sink), and the KafkaSource stand-in (`transactions` -> scorer, retries, dead letters).
// Ctrl-C stops everything in reverse order.
//
//   npm start                  the whole local event path
//   npm start -- --no-kafka    the scorer alone (HTTP only)
import { argv, chalk } from 'zx';
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
const port = Number(process.env.SCORER_PORT ?? 8080);

const kafka = withKafka ? await step('Kafka', () => startLocalKafka()) : undefined;
const sink = kafka
  ? await step('KafkaSink stand-in', () => startKafkaSinkBridge({ bootstrap: kafka.bootstrap }))
  : undefined;
const scorer = await step('scorer', () =>
  startScorer({
    port,
    env: sink ? { DECISION_SINK_URL: sink.url, DECISION_SINK_DELIVERY: 'before-reply' } : {},
  }),
);
if (kafka) {
  await step('KafkaSource stand-in', () =>
    startDispatcher({ bootstrap: kafka.bootstrap, sinkUrl: `${scorer.url}/` }),
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
