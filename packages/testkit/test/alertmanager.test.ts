import test from 'ava';
import fc from 'fast-check';
import { startAlertmanager } from '../src/alertmanager.ts';
import { startPrometheus } from '../src/prometheus.ts';
import { startWebhookReceiver } from '../src/webhook-receiver.ts';

const config = (receiverUrl: string) => ({
  route: {
    receiver: 'hook',
    group_by: ['alertname'],
    group_wait: '0s',
    group_interval: '1s',
    repeat_interval: '1h',
  },
  receivers: [{ name: 'hook', webhook_configs: [{ url: `${receiverUrl}/alerts`, send_resolved: true }] }],
});

test('Alertmanager delivers posted alerts to a webhook, then their resolution', async (t) => {
  const hook = await startWebhookReceiver();
  const am = await startAlertmanager({ config: config(hook.url) });
  try {
    await am.post([{ labels: { alertname: 'TestkitPosted', severity: 'info' } }]);
    const firing = await hook.waitFor(
      (n) => n.alertmanager?.status === 'firing' && n.alertmanager.commonLabels.alertname === 'TestkitPosted',
      15_000,
      'TestkitPosted firing',
    );
    t.is(firing.path, '/alerts');
    t.is((await am.alerts())[0]?.labels.alertname, 'TestkitPosted');
    await am.post([
      { labels: { alertname: 'TestkitPosted', severity: 'info' }, endsAt: new Date().toISOString() },
    ]);
    await hook.waitFor(
      (n) =>
        n.alertmanager?.status === 'resolved' && n.alertmanager.commonLabels.alertname === 'TestkitPosted',
      15_000,
      'TestkitPosted resolved',
    );
  } finally {
    await am.stop();
    await hook.stop();
  }
});

test('Prometheus sends a firing rule to Alertmanager, which delivers it', async (t) => {
  const hook = await startWebhookReceiver();
  const am = await startAlertmanager({ config: config(hook.url) });
  const prom = await startPrometheus({
    alertmanagerUrl: am.url,
    rules: [{ groups: [{ name: 't', rules: [{ alert: 'TestkitFromPrometheus', expr: 'vector(1)' }] }] }],
  });
  try {
    const n = await hook.waitFor(
      (x) => x.alertmanager?.commonLabels.alertname === 'TestkitFromPrometheus',
      30_000,
      'TestkitFromPrometheus delivered',
    );
    t.is(n.alertmanager?.status, 'firing');
  } finally {
    await prom.stop();
    await am.stop();
    await hook.stop();
  }
});

test('startAlertmanager rejects an invalid config with the log quoted', async (t) => {
  const error = await t.throwsAsync(
    startAlertmanager({ config: 'route: {receiver: missing}\nreceivers: []\n' }),
  );
  t.regex(error?.message ?? '', /alertmanager exited/);
});

test('the webhook receiver answers 400 to a body that is neither payload, and tells the two apart', async (t) => {
  const hook = await startWebhookReceiver();
  try {
    for (const body of ['{"nope":1}', 'not json', '[1]', 'null']) {
      const response = await fetch(hook.url, { method: 'POST', body });
      t.is(response.status, 400, body);
      t.regex(await response.text(), /not an Alertmanager webhook or Slack payload/);
    }
    t.is(hook.received.length, 0);
    const slack = await fetch(`${hook.url}/chat`, {
      method: 'POST',
      body: '{"attachments":[{"title":"t"}]}',
    });
    t.is(slack.status, 200);
    const got = await hook.waitFor((n) => n.path === '/chat', 1000, 'the chat message');
    t.is(got.slack?.attachments[0]?.title, 't');
    t.is(got.alertmanager, undefined);
  } finally {
    await hook.stop();
  }
});

test('the webhook receiver answers any body with 200 or a clear 400, and keeps serving (property)', async (t) => {
  const hook = await startWebhookReceiver();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        async (body) => {
          const response = await fetch(hook.url, { method: 'POST', body });
          const text = await response.text();
          return (
            response.status === 200 ||
            (response.status === 400 && text.includes('not an Alertmanager webhook'))
          );
        },
      ),
      { numRuns: 300 },
    );
    t.is((await fetch(hook.url, { method: 'POST', body: '{"alerts":[]}' })).status, 200);
  } finally {
    await hook.stop();
  }
});
