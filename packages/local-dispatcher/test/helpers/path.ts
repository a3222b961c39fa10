// Starts the pieces of the local event path as real processes: the scorer (functions/score) and the
// dispatcher (this package's main.ts), so tests can SIGKILL and restart them.
import path from 'node:path';
import { repoRoot } from '@fraud/testkit/paths';
import { freePort } from '@fraud/testkit/ports';
import { type ManagedProcess, startProcess, waitUntil } from '@fraud/testkit/process';

export interface Restartable {
  readonly current: ManagedProcess;
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const scorerEntry = path.join(repoRoot, 'functions', 'score', 'src', 'index.ts');
const dispatcherEntry = path.join(repoRoot, 'packages', 'local-dispatcher', 'src', 'main.ts');

export async function scorerProcess(options: {
  logDir: string;
  sinkUrl: string;
  env?: Record<string, string>;
}): Promise<Restartable & { url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  let current: ManagedProcess | undefined;
  let runs = 0;
  const start = async () => {
    current = startProcess({
      name: `scorer-${++runs}`,
      command: process.execPath,
      args: ['--import', 'tsx', scorerEntry],
      cwd: repoRoot,
      logDir: options.logDir,
      env: { PORT: String(port), HOST: '127.0.0.1', DECISION_SINK_URL: options.sinkUrl, ...options.env },
    });
    await waitUntil(
      current,
      `the scorer (${scorerEntry}) to be ready on ${url}`,
      async () => (await fetch(`${url}health/readiness`)).ok,
      60_000,
    );
  };
  await start();
  return {
    url,
    get current() {
      return current as ManagedProcess;
    },
    start,
    kill: () => (current as ManagedProcess).kill(),
    stop: () => (current as ManagedProcess).stop(),
  };
}

export async function dispatcherProcess(options: {
  logDir: string;
  env: Record<string, string>;
}): Promise<Restartable> {
  let current: ManagedProcess | undefined;
  let runs = 0;
  const start = async () => {
    const proc = startProcess({
      name: `dispatcher-${++runs}`,
      command: process.execPath,
      args: ['--import', 'tsx', dispatcherEntry, 'dispatcher'],
      cwd: repoRoot,
      logDir: options.logDir,
      env: options.env,
    });
    current = proc;
    await waitUntil(
      proc,
      'the dispatcher to join its group',
      async () => proc.tail(50).includes('dispatching '),
      60_000,
    );
  };
  await start();
  return {
    get current() {
      return current as ManagedProcess;
    },
    start,
    kill: () => (current as ManagedProcess).kill(),
    stop: () => (current as ManagedProcess).stop(),
  };
}
