#!/usr/bin/env -S npx tsx
// `npm start`: the local platform. For now the scorer on 127.0.0.1:8080 serving the bundled model
// (Kafka and the local dispatcher join later). Ctrl-C stops everything cleanly.
import { chalk } from 'zx';
import { startScorer } from './local/scorer.mts';

const port = Number(process.env.SCORER_PORT ?? 8080);
console.log(chalk.bold(`building and starting the scorer on 127.0.0.1:${port} ...`));
const scorer = await startScorer({ port });
const model = (await (await fetch(`${scorer.url}/health/readiness`)).json()) as { reason?: string };

console.log(`
${chalk.green('scorer ready')}  ${model.reason ?? ''}
  CloudEvents      POST ${scorer.url}/
  plain JSON       POST ${scorer.url}/score
  KServe v2        ${scorer.url}/v2/models/fraud-detector  (POST .../infer)
  health           ${scorer.url}/health/readiness
  metrics          ${scorer.url}/metrics
  log              ${scorer.process.logFile}

Try: curl -s ${scorer.url}/score -H 'content-type: application/json' -d @- <<< '{"amount":950,"merchant_category":"electronics","hour":3,"card_present":false,"distance_from_home_km":420,"velocity_1h":6,"amount_to_avg_ratio":7.5,"new_merchant":true,"foreign":true}'
Ctrl-C to stop.`);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the scorer ...`);
  await scorer.stop();
  console.log('stopped.');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
void scorer.process.exited.then((code) => {
  if (stopping) return;
  console.error(chalk.red(`the scorer exited unexpectedly (code ${code}); log: ${scorer.process.logFile}`));
  console.error(scorer.process.tail());
  process.exit(1);
});
