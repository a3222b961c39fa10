// The server proper (started by index.ts): listen so probes answer while the model loads; on SIGTERM stop
// taking requests, drain in-flight ones and pending decisions, then exit.
import type { Worker } from 'node:worker_threads';
import { buildApp, packageVersion } from './app.ts';
import type { ScorerConfig } from './config.ts';
import { type GrpcServer, startGrpcServer } from './grpc/server.ts';
import { availableCpus } from './inference/cpus.ts';
import { ScorerMetrics } from './metrics.ts';
import { Scorer } from './scorer.ts';
import { DecisionSink } from './sink.ts';

export async function serve(config: ScorerConfig, prespawned: Worker[]): Promise<void> {
  const metrics = new ScorerMetrics();
  // uptime_ms = since process start: how long the cold start took when a line says listening/serving.
  const log = (message: string) =>
    console.log(
      JSON.stringify({
        time: new Date().toISOString(),
        uptime_ms: Math.round(performance.now()),
        msg: message,
      }),
    );
  const scorer = new Scorer(config, metrics, log, prespawned);
  // Load (download, verify, warm up) while the server starts listening.
  const loading = scorer.load();
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

  let grpcServer: GrpcServer | undefined;
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
    await Promise.all([app.close(), grpcServer?.close(Math.max(0, config.shutdownGraceMs - 500))]);
    clearInterval(closeIdle);
    await sink?.drain(Math.max(0, config.shutdownGraceMs - 500));
    sink?.close();
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
  grpcServer = await startGrpcServer({
    scorer,
    metrics,
    host: config.host,
    port: config.grpcPort,
    maxRequestRows: config.maxRequestRows,
    serverVersion: packageVersion,
  });
  log(`gRPC (Open Inference Protocol, h2c) on ${config.host}:${grpcServer.port}`);
  log(
    `inference ${config.inferenceMode}${config.inferenceMode === 'workers' ? ` (${config.inferenceWorkers} worker threads)` : ' on the main thread'}; INFERENCE_MODE=${config.inferenceModeSetting}, ${availableCpus()} CPUs`,
  );
  await loading;
}
