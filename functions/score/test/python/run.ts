// The stock-client Python suite (`npm test -- --only score-python`): creates the clients' venv once from
// requirements.txt (keyed by its hash), then runs tritonclient's and kserve's tests as two pytest processes,
// because both packages register protobuf messages named inference.* and clash in one interpreter.
// Each test file starts the real scorer itself (conftest.py). Exit status: non-zero if either failed.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureVenv } from '../../bench/venv.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const python = ensureVenv(path.join(here, 'requirements.txt'), 'score-clients-venv');
let failed = false;
for (const file of ['test_tritonclient.py', 'test_kserve_client.py']) {
  const r = spawnSync(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', file], {
    cwd: here,
    stdio: 'inherit',
  });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
