// Starts the pieces of the local event path as real processes: the scorer (functions/score), the
// dispatcher and the bridge (this package's main.ts), so tests and the bench can SIGKILL and restart them.
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

/**
 * A process that tests can SIGKILL and start again: `launch(run)` starts run number `run` and resolves once
 * it is ready.
 */
async function restartable(launch: (run: number) => Promise<ManagedProcess>): Promise<Restartable> {
  let current: ManagedProcess | undefined;
  let runs = 0;
  const start = async () => {
    current = await launch(++runs);
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

/** Starts a process and waits until `ready` says so (or it exits, or the timeout passes). */
async function startReady(
  options: Parameters<typeof startProcess>[0],
  what: string,
  ready: (proc: ManagedProcess) => Promise<boolean>,
  timeoutMs: number,
): Promise<ManagedProcess> {
  const proc = startProcess(options);
  await waitUntil(proc, what, () => ready(proc), timeoutMs);
  return proc;
}

export async function scorerProcess(options: {
  logDir: string;
  sinkUrl: string;
  env?: Record<string, string>;
}): Promise<Restartable & { url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const scorer = await restartable((run) =>
    startReady(
      {
        name: `scorer-${run}`,
        command: process.execPath,
        args: ['--import', 'tsx', scorerEntry],
        cwd: repoRoot,
        logDir: options.logDir,
        env: {
          PORT: String(port),
          GRPC_PORT: '0',
          HOST: '127.0.0.1',
          DECISION_SINK_URL: options.sinkUrl,
          ...options.env,
        },
      },
      `the scorer (${scorerEntry}) to be ready on ${url}`,
      async () => (await fetch(`${url}health/readiness`)).ok,
      60_000,
    ),
  );
  return Object.assign(scorer, { url });
}

export async function dispatcherProcess(options: {
  logDir: string;
  env: Record<string, string>;
}): Promise<Restartable> {
  return restartable((run) =>
    startReady(
      {
        name: `dispatcher-${run}`,
        command: process.execPath,
        args: ['--import', 'tsx', dispatcherEntry, 'dispatcher'],
        cwd: repoRoot,
        logDir: options.logDir,
        env: options.env,
      },
      'the dispatcher to join its group',
      async (proc) => proc.tail(50).includes('dispatching '),
      60_000,
    ),
  );
}

/** The KafkaSink bridge as its own process, as `npm start` runs it (the bench's local path). */
export async function bridgeProcess(options: {
  logDir: string;
  env: Record<string, string>;
}): Promise<Restartable & { url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const bridge = await restartable(() =>
    startReady(
      {
        name: 'bridge',
        command: process.execPath,
        args: ['--import', 'tsx', dispatcherEntry, 'bridge'],
        cwd: repoRoot,
        logDir: options.logDir,
        env: { ...options.env, PORT: String(port) },
      },
      `the bridge on ${url}`,
      async () => (await fetch(`${url}health`)).ok,
      30_000,
    ),
  );
  return Object.assign(bridge, { url });
}
