#!/usr/bin/env -S npx tsx
// `npm run train -- [--data file.csv --label Class] [--features a,b] [--drop c] --out DIR [--seed 42]`
// Makes sure the project's virtualenv exists, then runs the Python trainer (airflow/fraud_training) with
// the same arguments. Relative paths are taken from where npm was invoked (INIT_CWD), as a user expects.
import path from 'node:path';
import { ensurePythonEnv } from '@fraud/testkit/install/python';
import { $ } from 'zx';
import { repoRoot } from './lib/repo.mts';

const args = process.argv.slice(2);
const { python } = await ensurePythonEnv();
const env = {
  ...process.env,
  PYTHONPATH: [path.join(repoRoot, 'airflow'), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
};
const run = await $({
  cwd: process.env.INIT_CWD ?? process.cwd(),
  env,
  stdio: 'inherit',
  nothrow: true,
})`${python} -m fraud_training.train ${args}`;
process.exitCode = run.exitCode ?? 1;
