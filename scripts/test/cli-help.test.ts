// Every CLI of the attack and cluster folders, run for real: `--help` prints the usage on stdout and exits
// 0; an unknown option is a usage error (exit 2) that names the option. Nothing here reaches a cluster or
// Kafka: the scripts stop while parsing.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { repoRoot } from '../lib/repo.mts';

const run = promisify(execFile);

const clis = [
  'scripts/attack/cli.mts',
  'scripts/cluster/bootstrap.mts',
  'scripts/cluster/deploy.mts',
  'scripts/cluster/teardown.mts',
  'scripts/cluster/mirror.mts',
  'scripts/cluster/bench.mts',
  'scripts/cluster/test-cluster.mts',
];

const tsx = path.join(repoRoot, 'node_modules', '.bin', 'tsx');

async function exec(cli: string, args: string[]) {
  try {
    const { stdout, stderr } = await run(tsx, [cli, ...args], { cwd: repoRoot, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

for (const cli of clis) {
  test(`${cli} --help prints usage and exits 0`, async (t) => {
    const r = await exec(cli, ['--help']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /usage|npm run|tsx/i);
  });

  test(`${cli} --no-such-option is a usage error (exit 2)`, async (t) => {
    const r = await exec(cli, ['--no-such-option-xyz', '1']);
    t.is(r.code, 2, r.stdout + r.stderr);
    t.regex(r.stderr, /no-such-option-xyz|unexpected|unknown/);
  });
}
