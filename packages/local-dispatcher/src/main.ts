#!/usr/bin/env -S node --import tsx
// Runs the local KafkaSource stand-in or the local KafkaSink bridge as a process (configured by environment;
// see the README). `node --import tsx packages/local-dispatcher/src/main.ts dispatcher|bridge`
import { startBridge } from './bridge.ts';
import { bridgeConfig, ConfigError, dispatcherConfig } from './config.ts';
import { Dispatcher } from './dispatcher.ts';

const log = (message: string) =>
  console.log(JSON.stringify({ time: new Date().toISOString(), msg: message }));

async function main(): Promise<void> {
  const role = process.argv[2];
  if (role === 'dispatcher') {
    const dispatcher = new Dispatcher({ ...dispatcherConfig(process.env), log });
    await dispatcher.start();
    const report = setInterval(() => log(`stats ${JSON.stringify(dispatcher.stats)}`), 5000);
    const stop = async () => {
      clearInterval(report);
      await dispatcher.stop();
      log(`stopped ${JSON.stringify(dispatcher.stats)}`);
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop());
    process.once('SIGINT', () => void stop());
  } else if (role === 'bridge') {
    const bridge = await startBridge(bridgeConfig(process.env));
    log(`kafka sink bridge listening on ${bridge.url}`);
    const stop = async () => {
      await bridge.close();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop());
    process.once('SIGINT', () => void stop());
  } else {
    throw new ConfigError(`usage: main.ts dispatcher|bridge (got ${JSON.stringify(role ?? null)})`);
  }
}

main().catch((err: Error) => {
  console.error(
    `local-dispatcher: ${err instanceof ConfigError ? 'configuration error: ' : ''}${err.message}`,
  );
  process.exit(err instanceof ConfigError ? 2 : 1);
});
