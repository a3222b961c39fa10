import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Where stdout and stderr go; quoted in errors so a failure names its cause. */
  readonly logFile: string;
  /** The last lines of the log, for error messages. */
  tail(lines?: number): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (for crash tests); resolves when the process has exited. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  logDir: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this user/group (a root test run starting a server that refuses root, e.g. PostgreSQL). */
  uid?: number;
  gid?: number;
  /** The signal stop() sends first; default SIGTERM (PostgreSQL's fast shutdown is SIGINT). */
  stopSignal?: NodeJS.Signals;
}

const live = new Set<() => void>();
let watchingSignals = false;

/**
 * When this process exits, and on SIGINT/SIGTERM, kill every service still running (then let the signal do what it would have done).
 * Only when nobody else handles the signal: a script with its own handler (e.g. `npm start`) stops its services itself.
 */
function killServicesOnExit(): void {
  if (watchingSignals) return;
  watchingSignals = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const handler = () => {
      if (process.listenerCount(signal) > 1) return;
      for (const kill of live) kill();
      process.removeListener(signal, handler);
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
  // One exit listener for all of them (a drill runs more than ten services: one listener each tripped
  // Node's MaxListenersExceededWarning).
  process.once('exit', () => {
    for (const kill of live) kill();
  });
}

/** True while a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Spawns a long-running service with its output in a log file, and a way to stop it that always ends it. */
export function startProcess(options: StartOptions): ManagedProcess {
  mkdirSync(options.logDir, { recursive: true });
  const logFile = path.join(options.logDir, `${options.name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
    detached: true, // own process group, so stop() ends its children too
  });
  // Two sources into one file: neither may end it (pipe's default), or the other's next chunk is a
  // write after end, an unhandled error that kills the test process. It ends when the child's stdio closes.
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const endLog = () => {
    if (!log.writableEnded) log.end();
  };
  child.once('close', endLog);
  child.once('error', endLog);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      child.kill(signal);
    }
  };
  // Never leave a service behind when the test process ends, normally or by SIGINT/SIGTERM.
  const onExit = () => signalGroup('SIGKILL');
  live.add(onExit);
  killServicesOnExit();
  void exited.then(() => {
    live.delete(onExit);
  });

  return {
    name: options.name,
    child,
    logFile,
    exited,
    tail(lines = 30) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '(no log)';
      }
    },
    async stop(graceMs = 10_000) {
      signalGroup(options.stopSignal ?? 'SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      signalGroup('SIGKILL');
      await exited;
    },
  };
}

/**
 * Polls `check` until it returns true, the process exits, or the timeout passes.
 * Errors name the service, what was awaited, and quote the end of its log.
 */
export async function waitUntil(
  service: ManagedProcess | undefined,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void service?.exited.then((code) => {
    exitCode = code;
  });
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new Error(
        `${service?.name} exited (code ${exitCode}) while waiting for ${what}; log ${service?.logFile}:\n${service?.tail()}`,
      );
    }
    try {
      if (await check()) return;
    } catch {
      // not ready yet
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const log = service ? `; log ${service.logFile}:\n${service.tail()}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${log}`);
}

/** waitUntil for a service just started: if it never becomes ready, stop it before rethrowing. */
export async function waitUntilReadyOrStop(
  service: ManagedProcess,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  try {
    await waitUntil(service, what, check, timeoutMs);
  } catch (error) {
    await service.stop();
    throw error;
  }
}
