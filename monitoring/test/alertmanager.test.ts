import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startAlertmanager } from '@fraud/testkit/alertmanager';
import { debianTool } from '@fraud/testkit/install/debian';
import { waitUntil } from '@fraud/testkit/process';
import { startWebhookReceiver } from '@fraud/testkit/webhook-receiver';
import test from 'ava';
import { parse } from 'yaml';
import {
  alertmanagerConfigFile,
  alertmanagerDir,
  configMount,
  localAlertmanagerConfig,
  secretsMount,
} from '../src/alertmanager-config.ts';

const run = promisify(execFile);

/** The raw config with the template glob pointed at the repository, as amtool cannot see the pod's mount. */
function configForAmtool(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fraud-amtool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'alertmanager.yaml');
  writeFileSync(
    file,
    readFileSync(alertmanagerConfigFile, 'utf8').replace(configMount, `${alertmanagerDir}/`),
  );
  return file;
}

test('amtool check-config accepts the config and its templates', async (t) => {
  const amtool = await debianTool('amtool');
  const { stdout } = await run(amtool, ['check-config', configForAmtool(t)]);
  t.regex(stdout, /SUCCESS/);
  t.regex(stdout, /5 inhibit rules/);
  t.regex(stdout, / 1 templates/);
});

const routeCases: { labels: string[]; receivers: string }[] = [
  { labels: ['alertname=FraudRateSpike', 'severity=critical', 'namespace=fraud'], receivers: 'pager,chat' },
  { labels: ['alertname=FraudScorerDown', 'severity=critical'], receivers: 'pager,chat' },
  { labels: ['alertname=FraudScoringHighCPU', 'severity=warning', 'namespace=fraud'], receivers: 'chat' },
  { labels: ['alertname=FraudModelRolledBack', 'severity=warning'], receivers: 'chat' },
  { labels: ['alertname=SomethingInformational', 'severity=info'], receivers: 'chat-low' },
  { labels: ['alertname=Watchdog', 'severity=none'], receivers: 'null' },
  { labels: ['alertname=InfoInhibitor', 'severity=none'], receivers: 'null' },
  { labels: ['alertname=NoSeverityAtAll'], receivers: 'chat' },
  {
    labels: ['alertname=FraudModelRecallDrop', 'severity=warning', 'namespace=fraud'],
    receivers: 'retrain,chat',
  },
  { labels: ['alertname=FraudModelRecallDrop', 'severity=critical'], receivers: 'retrain,pager,chat' },
];

for (const { labels, receivers } of routeCases) {
  test(`amtool config routes test: ${labels.join(' ')} -> ${receivers}`, async (t) => {
    const amtool = await debianTool('amtool');
    const { stdout } = await run(amtool, [
      'config',
      'routes',
      'test',
      `--config.file=${configForAmtool(t)}`,
      `--verify.receivers=${receivers}`,
      ...labels,
    ]);
    t.is(stdout.trim(), receivers);
  });
}

test('amtool config routes test fails on a wrong expectation (the check can fail)', async (t) => {
  const amtool = await debianTool('amtool');
  const file = configForAmtool(t);
  const error = await t.throwsAsync(
    run(amtool, [
      'config',
      'routes',
      'test',
      `--config.file=${file}`,
      '--verify.receivers=pager',
      'severity=warning',
    ]),
  );
  t.regex(String((error as unknown as { stdout: string }).stdout), /did not match/);
});

test('no credential in the config: receivers read the chat URL and pager token from Secret files', (t) => {
  const text = readFileSync(alertmanagerConfigFile, 'utf8');
  t.notRegex(text, /hooks\.slack\.com|api_url:|\burl: https?:\/\/[^\s]*token|credentials:/);
  const config = parse(text) as {
    receivers: { name: string; slack_configs?: { api_url_file?: string }[]; webhook_configs?: unknown[] }[];
  };
  for (const r of config.receivers) {
    for (const s of r.slack_configs ?? [])
      t.true(s.api_url_file?.startsWith(secretsMount), `${r.name} api_url_file`);
  }
  t.true(text.includes(`credentials_file: ${secretsMount}pager-token`));
  t.true(text.includes(`credentials_file: ${secretsMount}retrain-hook-token`));
});

test('live: critical pages with the token, warning reaches chat rendered by the templates, inhibitions hold', async (t) => {
  const hook = await startWebhookReceiver();
  const local = localAlertmanagerConfig({ receiverUrl: hook.url, timeScale: 30, pagerToken: 'test-token' });
  const am = await startAlertmanager(local);
  t.teardown(async () => {
    await am.stop();
    await hook.stop();
  });
  const fraud = { namespace: 'fraud', service: 'score' };
  const annotations = (name: string) => ({
    summary: `${name} summary`,
    description: `${name} description`,
    runbook_url: `https://example.invalid/RUNBOOK.md#${name.toLowerCase()}`,
  });
  await am.post([
    {
      labels: { alertname: 'FraudRateSpike', severity: 'critical', ...fraud },
      annotations: annotations('FraudRateSpike'),
    },
    {
      labels: { alertname: 'FraudScoreDistributionDrift', severity: 'warning', ...fraud },
      annotations: annotations('FraudScoreDistributionDrift'),
    },
    {
      labels: {
        alertname: 'FraudScoringHighCPU',
        severity: 'warning',
        namespace: 'fraud',
        revision: 'score-00001',
      },
      annotations: annotations('FraudScoringHighCPU'),
    },
  ]);

  const page = await hook.waitFor(
    (n) => n.path === '/pager' && n.alertmanager?.commonLabels.alertname === 'FraudRateSpike',
    20_000,
    'FraudRateSpike paged',
  );
  t.is(page.headers.authorization, 'Bearer test-token');
  t.is(page.alertmanager?.status, 'firing');

  const chat = await hook.waitFor(
    (n) => n.path === '/chat' && n.slack?.attachments[0]?.title === '[FIRING:1] FraudScoringHighCPU in fraud',
    20_000,
    'FraudScoringHighCPU in chat',
  );
  t.is(chat.slack?.channel, '#fraud-alerts');
  t.is(
    chat.slack?.attachments[0]?.text?.trim(),
    '*WARNING* FraudScoringHighCPU summary\nFraudScoringHighCPU description\nRunbook: https://example.invalid/RUNBOOK.md#fraudscoringhighcpu',
  );
  t.is(chat.slack?.attachments[0]?.color, 'warning');
  await hook.waitFor(
    (n) => n.path === '/chat' && n.slack?.attachments[0]?.title === '[FIRING:1] FraudRateSpike in fraud',
    20_000,
    'FraudRateSpike also in chat (continue: true)',
  );

  await waitUntil(
    am.process,
    'the drift alert to be marked inhibited',
    async () => {
      const drift = (await am.alerts()).find((a) => a.labels.alertname === 'FraudScoreDistributionDrift');
      return drift?.status.state === 'suppressed' && drift.status.inhibitedBy.length > 0;
    },
    10_000,
  );
  t.false(
    hook.received.some((n) => JSON.stringify(n.body).includes('FraudScoreDistributionDrift')),
    'the inhibited drift alert was never delivered',
  );
});
