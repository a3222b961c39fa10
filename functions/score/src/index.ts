// Entry point (`npm start`, the buildpack's command). Reads the configuration, starts the inference worker
// threads first (they load onnxruntime while this thread loads fastify: a shorter cold start), then the server.
import { ConfigError, loadConfig, type ScorerConfig } from './config.ts';
import { prespawnWorkers } from './inference/pool.ts';

let config: ScorerConfig;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`score: configuration error: ${err.message}`);
  process.exit(2);
}
const workers = config.inferenceMode === 'workers' ? prespawnWorkers(config.inferenceWorkers) : [];
try {
  const { serve } = await import('./server.ts');
  await serve(config, workers);
} catch (err) {
  console.error('score: fatal:', err);
  process.exit(1);
}
