import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPrometheus } from '@fraud/testkit/prometheus';
import { generateTransactions, withoutLabels } from '@fraud/transactions';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { buildDashboards, generatedDir, renderGenerated } from '../dashboards/generate.ts';
import { localRuleFiles } from '../src/local-rules.ts';
import { startLocalScorer } from '../src/local-scorer.ts';

test('the committed generated dashboards are up to date (run `npm run dashboards --workspace monitoring`)', (t) => {
  for (const [name, content] of Object.entries(renderGenerated())) {
    let committed = '';
    try {
      committed = readFileSync(path.join(generatedDir, name), 'utf8');
    } catch {
      // missing counts as stale
    }
    t.true(
      committed === content,
      `${name} is stale or missing: run npm run dashboards --workspace monitoring`,
    );
  }
});

test('dashboards ship as ConfigMaps the Grafana sidecar picks up, with visible legends', (t) => {
  const docs = parseAllDocuments(renderGenerated()['dashboards.configmaps.yaml']!).map(
    (d) =>
      d.toJS() as {
        kind: string;
        metadata: { labels: Record<string, string> };
        data: Record<string, string>;
      },
  );
  t.is(docs.length, 2);
  for (const cm of docs) {
    t.is(cm.kind, 'ConfigMap');
    t.is(cm.metadata.labels.grafana_dashboard, '1');
    const [json] = Object.values(cm.data);
    const dashboard = JSON.parse(json!) as {
      uid: string;
      panels: { type: string; title: string; options?: { legend?: { showLegend?: boolean } } }[];
    };
    t.truthy(dashboard.uid);
    for (const p of dashboard.panels.filter((x) => x.type === 'timeseries')) {
      t.true(p.options?.legend?.showLegend, `${dashboard.uid} / ${p.title} hides its legend`);
    }
  }
});

/** Grafana's variables, as an instant query in the test sees them. */
const substitute = (expr: string) =>
  expr.replaceAll('$__rate_interval', '15s').replaceAll('$namespace', '.+').replaceAll('$__interval', '5s');

test('every dashboard query parses against a real Prometheus scraping a running scorer, and scorer queries return data', async (t) => {
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'fraud-dashboards-'));
  const scorer = await startLocalScorer({ logDir });
  const prom = await startPrometheus({
    rules: localRuleFiles({ timeScale: 10, cpuRequestCores: 0.25 }).map((f) => f.content),
    scrapeTargets: [
      {
        job: 'score',
        targets: [scorer.address],
        labels: { namespace: 'local', service: 'score', revision: 'score-local' },
      },
    ],
  });
  t.teardown(async () => {
    await prom.stop();
    await scorer.stop();
    rmSync(logDir, { recursive: true, force: true });
  });

  // Traffic: valid batches with a high fraud share (so both decisions occur), and bad input (outcome invalid).
  const rows = generateTransactions({ seed: 7, count: 600, fraudRatio: 0.3 }).map(withoutLabels);
  for (let round = 0; round < 6; round++) {
    const ok = await fetch(`${scorer.url}/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(rows.slice(round * 100, round * 100 + 100)),
    });
    t.is(ok.status, 200, await ok.text());
    const bad = await fetch(`${scorer.url}/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 'lots' }),
    });
    t.is(bad.status, 400);
    await new Promise((r) => setTimeout(r, 1000));
  }
  // Let the last requests be scraped twice so every rate() has two samples after them.
  await new Promise((r) => setTimeout(r, 3000));

  const queries = buildDashboards().flatMap((d) => d.queries);
  t.true(queries.length >= 30, `only ${queries.length} queries`);
  for (const q of queries) {
    const where = `${q.dashboard} / ${q.panel}: ${q.expr}`;
    const result = await prom.query(substitute(q.expr)).catch((e: Error) => e);
    if (result instanceof Error) {
      t.fail(`${where} -> ${result.message}`);
      continue;
    }
    if (q.source === 'scorer') t.true(result.length > 0, `no data for a scorer query: ${where}`);
  }
  t.true(queries.filter((q) => q.source === 'scorer').length >= 15);
});
