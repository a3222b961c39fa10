// Entry point (`npm start`, the buildpack's command): configuration, then the server; SIGTERM/SIGINT drain.
import { ConfigError, loadConfig } from './config.ts';
import { startArchive } from './server.ts';

try {
  const config = loadConfig();
  const archive = await startArchive(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(JSON.stringify({ time: new Date().toISOString(), msg: `${signal}: draining` }));
    const force = setTimeout(() => process.exit(1), config.shutdownGraceMs);
    force.unref();
    void archive.close().then(
      () =>
        process.stdout.write(
          `${JSON.stringify({ time: new Date().toISOString(), msg: 'stopped cleanly' })}\n`,
          () => process.exit(0),
        ),
      (error: Error) => {
        console.error('archive: error while stopping:', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`archive: configuration error: ${error.message}`);
    process.exit(2);
  }
  console.error('archive: fatal:', error);
  process.exit(1);
}
