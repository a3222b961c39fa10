import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, whatever the caller's working directory. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Machine-level cache for downloads and builds, keyed by version below it; shared by clones on this machine. */
export const cacheDir = process.env.FRAUD_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'fraud-platform');

/** The project-local Python virtualenv. */
export const venvDir = path.join(repoRoot, '.venv');
export const venvPython = path.join(venvDir, 'bin', 'python');
export const venvBin = (tool: string) => path.join(venvDir, 'bin', tool);
