// Entry point (`npm start`, the buildpack's command): listen first so probes answer, then load the model;
// on SIGTERM stop taking requests, drain in-flight ones and pending decisions, then exit.
import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { ScorerMetrics } from './metrics.ts';
import { Scorer } from './scorer.ts';
import { DecisionSink } from './sink.ts';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`score: configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const metrics = new ScorerMetrics();
  const log = (message: string) =>
    console.log(JSON.stringify({ time: new Date().toISOString(), msg: message }));
  const scorer = new Scorer(config, metrics, log);
  const sink = config.decisionSinkUrl
    ? new DecisionSink({
        url: config.decisionSinkUrl,
        maxBuffer: config.sinkMaxBuffer,
        maxRetries: config.sinkMaxRetries,
        metrics,
        log,
      })
    : undefined;
  const app = buildApp({ config, scorer, metrics, sink, logger: true });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: draining in-flight requests (grace ${config.shutdownGraceMs} ms)`);
    scorer.draining = true;
    scorer.reason = 'shutting down';
    const force = setTimeout(() => {
      log('grace period over, exiting with requests still open');
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    const closeIdle = setInterval(() => app.server.closeIdleConnections(), 100);
    await app.close();
    clearInterval(closeIdle);
    await sink?.drain(Math.max(0, config.shutdownGraceMs - 500));
    await scorer.close();
    // stdout to a pipe is asynchronous: exit only once the last line is out.
    process.stdout.write(
      `${JSON.stringify({ time: new Date().toISOString(), msg: 'stopped cleanly' })}\n`,
      () => process.exit(0),
    );
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log(`listening on http://${config.host}:${port}`);
  await scorer.load();
}

main().catch((err) => {
  console.error('score: fatal:', err);
  process.exit(1);
});
