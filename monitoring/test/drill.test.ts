import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { monitoringDir } from '../src/rules.ts';

const run = promisify(execFile);
const repoRoot = path.resolve(monitoringDir, '..');
const drill = path.join(repoRoot, 'scripts', 'drill.mts');

test('npm run drill refuses a bad option with exit 2 and names it', async (t) => {
  const error = await t.throwsAsync(
    run(process.execPath, ['--import', 'tsx', drill, '--scorers', 'lots'], { cwd: repoRoot }),
  );
  const e = error as unknown as { code: number; stderr: string };
  t.is(e.code, 2);
  t.regex(e.stderr, /--scorers must be a number from 1 to 5, got "lots"/);
});

test('npm run drill refuses an unknown option with exit 2', async (t) => {
  const error = await t.throwsAsync(
    run(process.execPath, ['--import', 'tsx', drill, '--atack-rate', '5'], { cwd: repoRoot }),
  );
  const e = error as unknown as { code: number; stderr: string };
  t.is(e.code, 2);
  t.regex(e.stderr, /unknown option\(s\) --atack-rate/);
});

// The live drill itself, as CI runs it: real Kafka, dispatchers, scorers, Prometheus, Alertmanager.
test('npm run drill: the attack fires the fraud-rate and CPU alerts, they are delivered, then resolve', async (t) => {
  t.timeout(10 * 60_000);
  const result = await run(process.execPath, ['--import', 'tsx', drill], {
    cwd: repoRoot,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((e: { code: number; stdout: string; stderr: string }) => e);
  const output = `${result.stdout}\n${result.stderr}`;
  t.log(output.slice(output.indexOf('Timeline')));
  t.is('code' in result ? result.code : 0, 0, output.slice(-4000));
  t.regex(output, /DRILL PASSED/);
  for (const line of [
    'delivered: FraudRateSpike firing -> pager',
    'delivered: FraudRateSpike firing -> chat',
    'delivered: FraudScoringHighCPU firing -> chat',
    'delivered: FraudRateSpike resolved -> pager',
    'delivered: FraudScoringHighCPU resolved -> chat',
    'silent as expected',
  ]) {
    t.true(output.includes(line), `missing step: ${line}`);
  }
});
