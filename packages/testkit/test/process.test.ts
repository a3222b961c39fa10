// startProcess's promise: a service never outlives the test process that started it, however many there are.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);

// Running, not a zombie waiting for a reaper (a killed child of an exited process may stay one here).
const alive = (pid: number) => {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== undefined && state !== 'Z';
  } catch {
    return false;
  }
};

test('every service started by a process is killed when that process exits, without a listener warning', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'testkit-exit-'));
  const script = path.join(dir, 'starter.ts');
  const processModule = path.join(import.meta.dirname, '..', 'src', 'process.ts');
  writeFileSync(
    script,
    `import { startProcess } from ${JSON.stringify(processModule)};
const started = Array.from({ length: 12 }, (_, i) =>
  startProcess({ name: 's' + i, command: 'sleep', args: ['600'], logDir: ${JSON.stringify(dir)} }));
console.log(started.map((p) => p.child.pid).join(' '));
setTimeout(() => process.exit(0), 300);
`,
  );
  const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', script], { timeout: 60_000 });
  const pids = stdout.trim().split(' ').map(Number);
  t.is(pids.length, 12);
  t.notRegex(stderr, /MaxListenersExceededWarning/);
  await new Promise((r) => setTimeout(r, 300));
  t.deepEqual(pids.filter(alive), [], 'no service left running');
});
