// Throwaway Python venvs (the bench's FastAPI baseline, the tests' KServe client), each keyed by the hash
// of its requirements file under the machine cache, created on first use (idempotent, stamped).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The venv's python for `requirements` (a path), creating `<name>-<hash>` in the cache when missing. */
export function ensureVenv(requirements: string, name: string): string {
  const hash = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 12);
  const cache = process.env.FRAUD_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'fraud-platform');
  const dir = path.join(cache, `${name}-${hash}`);
  const python = path.join(dir, 'bin', 'python');
  const stamp = path.join(dir, '.installed');
  if (existsSync(stamp)) return python;
  console.log(`creating ${dir} from ${requirements} (once) ...`);
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
  };
  run(process.env.FRAUD_PYTHON ?? 'python3', ['-m', 'venv', dir]);
  run(python, ['-m', 'pip', 'install', '-q', '-r', requirements]);
  run(python, ['-c', `open(${JSON.stringify(stamp)}, 'w').write('ok')`]);
  return python;
}

export const benchVenv = () =>
  ensureVenv(new URL('./requirements.txt', import.meta.url).pathname, 'bench-venv');
