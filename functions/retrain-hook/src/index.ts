import { ConfigError, loadConfig } from './config.ts';
import { createHook } from './hook.ts';

// Entry point of the function's container (`npm start`): config from the environment, see README.
try {
  const hook = createHook(loadConfig());
  await hook.start();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void hook.stop().finally(() => process.exit(0));
    });
  }
} catch (error) {
  console.error(
    `retrain-hook: ${error instanceof ConfigError ? '' : 'failed to start: '}${(error as Error).message}`,
  );
  process.exit(1);
}
