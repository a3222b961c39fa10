import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { debianTool } from '@fraud/testkit/install/debian';
import test from 'ava';
import fc from 'fast-check';
import { parse } from 'yaml';
import { extractRuleFiles } from '../src/extract-rules.ts';
import { allRules, loadPrometheusRules, monitoringDir, parsePrometheusRule } from '../src/rules.ts';

const run = promisify(execFile);
const promtoolTestsDir = path.join(monitoringDir, 'test', 'rules');
const promtoolTests = readdirSync(promtoolTestsDir).filter((f) => f.endsWith('.promtool.yaml'));
const alerts = allRules().filter((r) => r.alert);

function extracted(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fraud-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  extractRuleFiles(dir);
  return dir;
}

test('promtool check rules accepts every extracted rule file', async (t) => {
  const promtool = await debianTool('promtool');
  const dir = extracted(t);
  const files = readdirSync(dir).map((f) => path.join(dir, f));
  t.is(files.length, loadPrometheusRules().length);
  const { stdout } = await run(promtool, ['check', 'rules', ...files]);
  t.is((stdout.match(/SUCCESS/g) ?? []).length, files.length, stdout);
});

test('promtool test rules: every unit test passes', async (t) => {
  const promtool = await debianTool('promtool');
  const dir = extracted(t);
  for (const f of promtoolTests) copyFileSync(path.join(promtoolTestsDir, f), path.join(dir, f));
  const result = await run(promtool, ['test', 'rules', ...promtoolTests], { cwd: dir }).catch(
    (e: { stdout: string; stderr: string }) => e,
  );
  const output = `${result.stdout}\n${result.stderr}`;
  t.is((output.match(/SUCCESS/g) ?? []).length, promtoolTests.length, output);
  t.notRegex(output, /FAILED/, output);
});

test('promtool test rules fails when an expectation is wrong (the harness can fail)', async (t) => {
  const promtool = await debianTool('promtool');
  const dir = extracted(t);
  // 6 instances for 10 minutes, expected silent: promtool must report the alert it did not expect.
  const broken = [
    'rule_files: [fraud-scoring-service.rules.yaml]',
    'evaluation_interval: 1m',
    'tests:',
    '  - interval: 1m',
    '    input_series:',
    `      - series: 'kn_revision_pods_count{kn_service_name="score", kn_revision_name="score-00001", k8s_namespace_name="fraud"}'`,
    "        values: '6x10'",
    '    alert_rule_test:',
    '      - eval_time: 10m',
    '        alertname: FraudScoringAtMaxScale',
    '        exp_alerts: []',
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'broken.promtool.yaml'), broken);
  const error = await t.throwsAsync(run(promtool, ['test', 'rules', 'broken.promtool.yaml'], { cwd: dir }));
  const { stdout, stderr } = error as unknown as { stdout: string; stderr: string };
  t.regex(`${stdout}${stderr}`, /FAILED[\s\S]*FraudScoringAtMaxScale/);
});

interface PromtoolFile {
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

test('every alert has at least one firing and one non-firing unit test', (t) => {
  const firing = new Set<string>();
  const silent = new Set<string>();
  for (const f of promtoolTests) {
    const doc = parse(readFileSync(path.join(promtoolTestsDir, f), 'utf8')) as PromtoolFile;
    for (const test of doc.tests) {
      for (const check of test.alert_rule_test ?? []) {
        (check.exp_alerts?.length ? firing : silent).add(check.alertname);
      }
    }
  }
  for (const rule of alerts) {
    t.true(firing.has(rule.alert!), `${rule.alert} has no test where it fires`);
    t.true(silent.has(rule.alert!), `${rule.alert} has no near-miss test where it stays silent`);
  }
});

test('every alert has a severity, for, summary, description and a runbook section', (t) => {
  const runbook = readFileSync(path.join(monitoringDir, 'RUNBOOK.md'), 'utf8');
  const anchors = new Set([...runbook.matchAll(/^##+ (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase()));
  t.true(alerts.length >= 15, `only ${alerts.length} alerts`);
  for (const rule of alerts) {
    t.regex(rule.labels?.severity ?? '', /^(critical|warning|info)$/, `${rule.alert} severity`);
    t.regex(rule.for ?? '', /^\d+[smh]$/, `${rule.alert} for`);
    t.truthy(rule.annotations?.summary, `${rule.alert} summary`);
    t.truthy(rule.annotations?.description, `${rule.alert} description`);
    const anchor = rule.annotations?.runbook_url?.split('/monitoring/RUNBOOK.md#')[1];
    t.truthy(
      anchor && anchors.has(anchor),
      `${rule.alert} runbook_url ${rule.annotations?.runbook_url} has no RUNBOOK.md section`,
    );
  }
});

test('every PrometheusRule carries the kube-prometheus-stack release label', (t) => {
  for (const cr of loadPrometheusRules()) t.is(cr.labels.release, 'kube-prometheus-stack', cr.file);
});

test('extraction names what is wrong with a file that is not a PrometheusRule', (t) => {
  t.throws(() => parsePrometheusRule('apiVersion: v1\nkind: ConfigMap\n', 'cm.yaml'), {
    message: /cm\.yaml: not a monitoring\.coreos\.com\/v1 PrometheusRule/,
  });
  t.throws(
    () =>
      parsePrometheusRule(
        'apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\n',
        'x.yaml',
      ),
    { message: /x\.yaml: spec\.groups must be a non-empty list/ },
  );
  t.throws(() => parsePrometheusRule(': : :\n  - [', 'bad.yaml'), {
    message: /^bad\.yaml: not valid YAML: /,
  });
  const cr = (spec: string) =>
    `apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\nspec: ${spec}\n`;
  t.throws(() => parsePrometheusRule(cr('{groups: [1]}'), 'g.yaml'), {
    message: /g\.yaml: spec\.groups\[0\] needs a name and a rules list/,
  });
  t.throws(
    () =>
      parsePrometheusRule(cr('{groups: [{name: a, rules: [{alert: A, record: b, expr: up}]}]}'), 'r.yaml'),
    {
      message: /r\.yaml: spec\.groups\[0\]\.rules\[0\] needs an expr and exactly one of alert or record/,
    },
  );
});

test('the extract CLI exits non-zero with usage when --out is missing', async (t) => {
  const error = await t.throwsAsync(
    run(process.execPath, ['--import=tsx', path.join(monitoringDir, 'src', 'extract-rules.ts')]),
  );
  t.is((error as unknown as { code: number }).code, 2);
  t.regex((error as unknown as { stderr: string }).stderr, /usage: extract-rules\.ts --out <dir>/);
});

test('extraction turns any YAML text into a PrometheusRule or an error naming the file (property)', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc
          .record({
            apiVersion: fc.string(),
            kind: fc.string(),
            metadata: fc.jsonValue(),
            spec: fc.jsonValue(),
          })
          .map((v) => JSON.stringify(v)),
      ),
      (text) => {
        try {
          const cr = parsePrometheusRule(text, 'fuzz.yaml');
          return cr.spec.groups.length > 0;
        } catch (error) {
          // YAML syntax errors come from the parser; our own say which file.
          return (
            error instanceof Error &&
            (error.message.startsWith('fuzz.yaml: ') || error.name === 'YAMLParseError')
          );
        }
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});
