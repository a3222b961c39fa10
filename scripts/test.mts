#!/usr/bin/env -S npx tsx
// The project's one test command (`npm test`): installs what the suites need (idempotent, cached),
// then runs lint, type checks, every workspace's ava suite and the Python suite, and ends with one
// "N passed, N failed" line that adds them all up.
//
//   npm test                       everything
//   npm test -- --only score,python   some suites (names: lint, typecheck, python, score-python, cluster, or a workspace folder name)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { $, argv, chalk } from 'zx';
import { repoRoot } from './lib/repo.mts';

interface SuiteResult {
  name: string;
  passed: number;
  failed: number;
  ok: boolean;
  seconds: number;
  /** Titles of the failed tests, repeated in the summary because CI logs are often read from the tail. */
  failures: string[];
  /** The first lines of each failure's reason (error messages, pending tests at a timeout), for the same tail. */
  reasons: string[];
}

interface Counts {
  passed: number;
  failed: number;
  failures: string[];
}

// The lines of a failed run that say why: ava's "Reason:" blocks and error messages, the tests still pending
// when a suite timed out, pytest's short summary lines. Deduplicated and capped so the summary stays short.
function failureReasons(raw: string, limit = 12): string[] {
  const output = stripVTControlCharacters(raw);
  const reasons = output
    .split('\n')
    .map((line) => line.trim())
    .filter(
      (line) =>
        /^message: /.test(line) ||
        /^(?:[A-Z]\w*Error|Error)(?: \[\w+\])?: /.test(line) ||
        /^◌ /.test(line) ||
        /(?:tests? (?:were|was) pending|Timed out while running tests)/.test(line) ||
        /^E\s{2,}\S/.test(line),
    );
  return [...new Set(reasons)].slice(0, limit).map((line) => line.slice(0, 400));
}

$.cwd = repoRoot;
$.verbose = true;

const only = argv.only ? String(argv.only).split(',') : undefined;
const wanted = (name: string) => !only || only.includes(name);

// ava marks each passed test "✔" and each failed one "✘"; its closing lines count failures, uncaught
// exceptions and timeouts, but print "N tests passed" only when nothing failed, so passes are counted per line.
function countAva(raw: string): Counts {
  const output = stripVTControlCharacters(raw);
  const num = (re: RegExp) => [...output.matchAll(re)].reduce((sum, m) => sum + Number(m[1]), 0);
  const failures = [...output.matchAll(/^\s*✘ (?:\[fail\]: )?(.+)$/gm)].map((m) => (m[1] ?? '').trim());
  return {
    passed: [...output.matchAll(/^\s*✔ /gm)].length,
    failed: num(
      /^\s*(\d+) (?:tests? failed|hooks? failed|uncaught exceptions?|unhandled rejections?|tests? remained pending)/gm,
    ),
    failures: [...new Set(failures)],
  };
}

// With -q pytest prints a bare "46 passed, 1 failed in 38.5s" and "FAILED file::test - reason" lines.
// A suite may run several pytest processes (score-python does): their summary lines add up.
function countPytest(raw: string): Counts {
  const output = stripVTControlCharacters(raw);
  const summaries = [...output.matchAll(/^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s/gm)].map((m) => m[1] ?? '');
  const pick = (word: string) =>
    summaries.reduce((n, s) => n + Number(s.match(new RegExp(`(\\d+) ${word}`))?.[1] ?? 0), 0);
  const failures = [...output.matchAll(/^(?:FAILED|ERROR) (.+)$/gm)].map((m) => m[1] ?? '');
  return { passed: pick('passed'), failed: pick('failed') + pick('error'), failures };
}

// test-cluster prints "ok   <check>" or "FAIL <check>" per check and ends with "cluster: N passed, N failed".
function countClusterSummary(raw: string): Counts {
  const output = stripVTControlCharacters(raw);
  const m = [...output.matchAll(/^cluster: (\d+) passed, (\d+) failed/gm)].at(-1);
  const failures = [...output.matchAll(/^FAIL (.+)$/gm)].map((f) => f[1] ?? '');
  return { passed: Number(m?.[1] ?? 0), failed: Number(m?.[2] ?? 0), failures };
}

async function runSuite(
  name: string,
  command: () => Promise<{ stdout: string; stderr: string; exitCode: number | null }>,
  counter?: (out: string) => Counts,
): Promise<SuiteResult> {
  console.log(chalk.bold(`\n=== ${name}`));
  const started = Date.now();
  const run = await command();
  const out = `${run.stdout}\n${run.stderr}`;
  const ok = run.exitCode === 0;
  const counts = counter ? counter(out) : { passed: ok ? 1 : 0, failed: ok ? 0 : 1, failures: [] };
  // A suite that exits non-zero but printed no failure count still counts as one failure.
  if (!ok && counts.failed === 0) counts.failed = 1;
  const reasons = ok ? [] : failureReasons(out);
  return { name, ...counts, reasons, ok, seconds: (Date.now() - started) / 1000 };
}

const results: SuiteResult[] = [];

if (wanted('setup') || !only) {
  const setupArgs = only ? ['--for', only.join(',')] : [];
  results.push(await runSuite('setup', () => $`tsx scripts/setup.mts ${setupArgs}`.nothrow()));
  if (!results.at(-1)?.ok) {
    console.error(chalk.red('setup failed: the suites below need what it installs, so stopping here.'));
    process.exitCode = 1;
  }
}

if (process.exitCode !== 1) {
  if (wanted('lint')) results.push(await runSuite('lint', () => $`npx biome check .`.nothrow()));
  if (wanted('typecheck')) results.push(await runSuite('typecheck', () => $`npm run typecheck`.nothrow()));

  const rootPackage = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
    workspaces: string[];
  };
  for (const workspace of rootPackage.workspaces) {
    const name = path.basename(workspace);
    if (!wanted(name)) continue;
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, workspace, 'package.json'), 'utf8')) as {
      scripts?: Record<string, string>;
    };
    if (!pkg.scripts?.test) continue;
    results.push(await runSuite(name, () => $`npm test --workspace ${workspace}`.nothrow(), countAva));
  }

  // The Kubernetes control-plane test (real kube-apiserver + etcd + kwok, Knative's own validation).
  if (wanted('cluster')) {
    results.push(await runSuite('cluster', () => $`npm run test:cluster`.nothrow(), countClusterSummary));
  }

  // A real single-node cluster (kubelet, containerd, kube-proxy) and the drill on it.
  if (wanted('live-cluster')) {
    results.push(
      await runSuite(
        'live-cluster',
        // The node itself (testkit), then Knative Serving on it (scripts).
        () =>
          $`npm run test:live-cluster --workspace packages/testkit && npm run test:live-cluster --workspace scripts`.nothrow(),
        countAva,
      ),
    );
  }

  if (wanted('python')) {
    const python = path.join(repoRoot, '.venv', 'bin', 'python');
    results.push(
      await runSuite(
        'python',
        () => $`${python} -m pytest airflow/tests -q -p no:cacheprovider`.nothrow(),
        countPytest,
      ),
    );
  }

  // The scorer against the stock OIP clients from PyPI (tritonclient, kserve), in their own venv.
  if (wanted('score-python')) {
    results.push(
      await runSuite('score-python', () => $`tsx functions/score/test/python/run.ts`.nothrow(), countPytest),
    );
  }
}

console.log(chalk.bold('\n=== summary'));
for (const r of results) {
  const mark = r.ok ? chalk.green('ok  ') : chalk.red('FAIL');
  console.log(
    `${mark} ${r.name.padEnd(14)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed  ${r.seconds.toFixed(1)}s`,
  );
  for (const title of r.failures.slice(0, 10)) console.log(`       ✘ ${title.slice(0, 300)}`);
  for (const reason of r.reasons) console.log(`         ${reason}`);
}
const passed = results.reduce((s, r) => s + r.passed, 0);
const failed = results.reduce((s, r) => s + r.failed, 0);
console.log(`tests: ${passed} passed, ${failed} failed`);
if (failed > 0 || results.some((r) => !r.ok)) process.exitCode = 1;
