import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { debianTool } from '@fraud/testkit/install/debian';
import test from 'ava';
import fc from 'fast-check';
import { compressDuration, compressExprDurations, formatDuration, parseDuration } from '../src/durations.ts';
import { loadAdapters, localRuleFiles } from '../src/local-rules.ts';
import { loadPrometheusRules } from '../src/rules.ts';

const run = promisify(execFile);

test('durations: parse, compress, and rewrite ranges, subqueries and offsets', (t) => {
  t.is(parseDuration('1h30m'), 5400);
  t.is(parseDuration('3d'), 259200);
  t.is(compressDuration('5m', 10), '30s');
  t.is(compressDuration('0m', 10), '0s');
  t.is(compressDuration('5s', 10, 2), '2s');
  t.is(
    compressExprDurations('rate(x[5m]) + max_over_time(y[1h:1m]) - z offset 1h + w[1d:]', 10),
    'rate(x[30s]) + max_over_time(y[360s:6s]) - z offset 360s + w[8640s:]',
  );
  t.is(compressExprDurations('x{le="0.025"} > 14.4 * 0.001', 10), 'x{le="0.025"} > 14.4 * 0.001');
  for (const bad of ['', '5', '5 m', 'm5', '1h 2m', 'abc'])
    t.throws(() => parseDuration(bad), { message: /not a duration/ });
});

test('durations: compressing by f and scaling back gives the original, within a second', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 10 * 86400 }),
      fc.integer({ min: 1, max: 60 }),
      (seconds, factor) => {
        const back = parseDuration(compressDuration(formatDuration(seconds), factor, 0.001)) * factor;
        return Math.abs(back - seconds) <= factor;
      },
    ),
  );
  t.pass();
});

test('local rules: only the adapter recording rules differ, every alert keeps its expression (compressed)', (t) => {
  const adapters = loadAdapters();
  const cluster = loadPrometheusRules();
  const local = localRuleFiles({ timeScale: 10, cpuRequestCores: 0.25 }, cluster);
  t.deepEqual(Object.keys(adapters).sort(), [
    'fraud:scorer_cpu_usage:ratio_of_request',
    'fraud:scorer_instances:sum',
    'fraud:scorer_ready_instances:sum',
  ]);
  cluster.forEach((cr, i) => {
    cr.spec.groups.forEach((group, g) => {
      group.rules.forEach((rule, r) => {
        const localRule = local[i]!.content.groups[g]!.rules[r]!;
        if (rule.record && rule.record in adapters) {
          t.notRegex(localRule.expr, /kube_|container_cpu|kn_revision|autoscaler_/, rule.record);
        } else {
          t.is(localRule.expr, compressExprDurations(rule.expr, 10, 2), rule.alert ?? rule.record);
        }
        if (rule.alert) t.deepEqual(localRule.annotations, rule.annotations);
        if (rule.for) t.is(localRule.for, compressDuration(rule.for, 10, 2));
      });
    });
  });
  const cpu = local
    .flatMap((f) => f.content.groups.flatMap((g) => g.rules))
    .find((r) => r.record === 'fraud:scorer_cpu_usage:ratio_of_request');
  t.regex(cpu?.expr ?? '', /process_cpu_seconds_total\{job="score"\}\[12s\][\s\S]*\* 0\.25/);
});

test('local rules pass promtool check rules', async (t) => {
  const promtool = await debianTool('promtool');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fraud-local-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files = localRuleFiles({ timeScale: 10, cpuRequestCores: 0.5 }).map((f) => {
    const file = path.join(dir, `${f.name}.json`);
    writeFileSync(file, JSON.stringify(f.content));
    return file;
  });
  const { stdout } = await run(promtool, ['check', 'rules', ...files]);
  t.is((stdout.match(/SUCCESS/g) ?? []).length, files.length);
});

test('local rules refuse nonsense options', (t) => {
  t.throws(() => localRuleFiles({ timeScale: 0, cpuRequestCores: 1 }), { message: /timeScale must be >= 1/ });
  t.throws(() => localRuleFiles({ timeScale: 10, cpuRequestCores: 0 }), {
    message: /cpuRequestCores must be > 0/,
  });
});
