import { existsSync } from 'node:fs';
import test from 'ava';
import { waitUntil } from '../src/process.ts';
import { startPrometheus } from '../src/prometheus.ts';

test('startPrometheus scrapes, evaluates rules, answers queries and cleans up on stop', async (t) => {
  const prom = await startPrometheus({
    rules: [
      {
        groups: [
          {
            name: 'testkit',
            rules: [
              { record: 'testkit:up:sum', expr: 'sum(up{job="prometheus"})' },
              { alert: 'TestkitAlwaysFiring', expr: 'vector(1)', labels: { severity: 'info' } },
            ],
          },
        ],
      },
    ],
  });
  try {
    await waitUntil(
      prom.process,
      'the self-scrape and the recording rule',
      async () => {
        const [sample] = await prom.query('testkit:up:sum');
        return sample?.value[1] === '1';
      },
      20_000,
    );
    await waitUntil(
      prom.process,
      'TestkitAlwaysFiring to fire',
      async () =>
        (await prom.alerts()).some(
          (a) => a.labels.alertname === 'TestkitAlwaysFiring' && a.state === 'firing',
        ),
      20_000,
    );
    const [scalar] = await prom.query('scalar(vector(2))');
    t.is(scalar?.value[1], '2');
    await t.throwsAsync(prom.query('sum(rate(up[1m]'), { message: /parse error/ });
  } finally {
    await prom.stop();
  }
  t.false(existsSync(prom.dir), 'temp dir removed');
  t.not(prom.process.child.exitCode ?? prom.process.child.signalCode, null, 'process ended');
});

test('startPrometheus fails loudly, naming the log, when a rule file is invalid', async (t) => {
  const error = await t.throwsAsync(
    startPrometheus({ rules: [{ groups: [{ name: 'bad', rules: [{ record: 'x', expr: 'sum(' }] }] }] }),
  );
  t.regex(error?.message ?? '', /prometheus exited .*log/s);
});
