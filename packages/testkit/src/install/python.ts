import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, venvDir, venvPython } from '../paths.ts';

/** The fully pinned requirement set (pip freeze of a resolved install); the stamp is keyed on its hash. */
export const requirementsLock = path.join(repoRoot, 'airflow', 'requirements.lock.txt');
const stampFile = path.join(venvDir, '.fraud-requirements.sha256');
// Outside the checkout (nothing to ignore in git), one per venv path.
const lockFile = path.join(
  os.tmpdir(),
  `fraud-venv-${createHash('sha256').update(venvDir).digest('hex').slice(0, 12)}.lock`,
);

const log = (message: string) => console.log(`[python-env] ${message}`);

/** The interpreter that creates the venv: FRAUD_PYTHON, else python3 on PATH. */
function basePython(): string {
  return process.env.FRAUD_PYTHON ?? 'python3';
}

function pythonVersion(python: string): string {
  const result = spawnSync(python, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], {
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(
      `python-env: cannot run "${python}" (${result.error?.message ?? result.stderr.trim()}); install Python 3.11 or set FRAUD_PYTHON`,
    );
  }
  return result.stdout.trim();
}

/** What the venv must match: the lock file's content and the interpreter's version. */
function wantedStamp(version: string): string {
  const hash = createHash('sha256').update(readFileSync(requirementsLock)).digest('hex');
  return `${hash} python-${version}\n`;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // Inherit stdio so pip's progress shows while the (minutes-long) cold install runs.
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', (err) => reject(new Error(`python-env: cannot start ${command}: ${err.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`python-env: "${command} ${args.join(' ')}" failed (exit ${code ?? signal})`));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Serialises installers (setup and a test may race); a lock whose holder died is taken over. */
async function withInstallLock<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(readFileSync(lockFile, 'utf8') || '0', 10);
      if (!holder || !isAlive(holder)) {
        rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`python-env: ${lockFile} held by pid ${holder} for 30 min`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lockFile, { force: true });
  }
}

function upToDate(stamp: string): boolean {
  return existsSync(venvPython) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp;
}

/**
 * Creates `<repo>/.venv` and installs airflow/requirements.lock.txt into it, unless the stamp says the venv
 * already matches that lock file and interpreter. Idempotent and safe to call from several processes.
 */
export async function ensurePythonEnv(): Promise<{ python: string }> {
  const python = basePython();
  const version = pythonVersion(python);
  if (!version.startsWith('3.11.')) {
    log(
      `warning: the lock file was resolved on Python 3.11; ${python} is ${version} (set FRAUD_PYTHON to a 3.11)`,
    );
  }
  const stamp = wantedStamp(version);
  if (upToDate(stamp)) return { python: venvPython };

  return withInstallLock(async () => {
    if (upToDate(stamp)) return { python: venvPython }; // another process finished while we waited
    const started = Date.now();
    if (existsSync(venvDir) && !existsSync(venvPython)) {
      log(`${venvDir} exists without an interpreter; recreating it`);
      rmSync(venvDir, { recursive: true, force: true });
    }
    if (!existsSync(venvPython)) {
      log(`creating ${venvDir} with ${python} (Python ${version})`);
      await run(python, ['-m', 'venv', venvDir]);
    }
    log(`installing ${path.relative(repoRoot, requirementsLock)} (pinned; a cold install takes minutes)`);
    rmSync(stampFile, { force: true }); // a half-finished install must not look done
    await run(venvPython, [
      '-m',
      'pip',
      'install',
      '--no-input',
      '--progress-bar',
      'on',
      '-r',
      requirementsLock,
    ]);
    writeFileSync(stampFile, stamp);
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${venvPython}`);
    return { python: venvPython };
  });
}
