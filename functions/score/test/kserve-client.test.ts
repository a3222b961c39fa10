// A stock KServe v2 client (Python tritonclient[http], binary tensors by default, and JSON) against the real
// server process: health, metadata, inference, errors. Its venv is created once from test/python/requirements.txt.
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { ensureVenv } from '../bench/venv.ts';
import { loadCard } from './helpers/model.ts';
import { spawnScorer } from './helpers/server.ts';

test('tritonclient talks to the scorer: live, ready, metadata, infer with binary and JSON tensors', async (t) => {
  const python = ensureVenv(
    new URL('./python/requirements.txt', import.meta.url).pathname,
    'kserve-client-venv',
  );
  const s = await spawnScorer();
  try {
    const check = spawnSync(
      python,
      [new URL('./python/kserve_client_check.py', import.meta.url).pathname, s.url, loadCard().name],
      { encoding: 'utf8', timeout: 60_000 },
    );
    t.is(check.status, 0, `${check.stdout}\n${check.stderr}`);
    t.regex(check.stdout, /infer \(binary \+ JSON\) ok/);
  } finally {
    await s.stop();
  }
});
