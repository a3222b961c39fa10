// `NODE_OPTIONS="--import <this file>" CPU_PROFILE_DIR=<dir>`: the first SIGUSR2 starts the V8 CPU profiler of
// the main thread, the next one writes <dir>/<name>-<pid>.cpuprofile (Chrome DevTools format) and stops it.
// For profiling a window of a run in long-lived processes (`--cpu-prof` only writes at exit and is not
// allowed in NODE_OPTIONS). Summarise with bench/profile-top.ts.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';

const dir = process.env.CPU_PROFILE_DIR ?? '.';
const name = process.env.CPU_PROFILE_NAME ?? path.basename(process.argv[1] ?? 'node');
const session = new Session();
session.connect();
let running = false;
process.on('SIGUSR2', async () => {
  if (!running) {
    running = true;
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    await session.post('Profiler.start');
    return;
  }
  running = false;
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(path.join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(profile));
});
