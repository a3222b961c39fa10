// Live model quality from matured labels, per served model version: decisions decided between
// (maturity + window) and maturity ago, joined with their current labels (an unlabelled matured decision
// counts as legit: frauds are always charged back eventually, legit transactions mostly never confirmed).
// Computed by SQL every ARCHIVE_QUALITY_INTERVAL and held in gauges, so a scrape costs nothing.
import type { ArchiveMetrics } from './metrics.ts';
import type { Store } from './store.ts';

export interface ModelQuality {
  name: string;
  version: string;
  matured: number;
  labelled: number;
  frauds: number;
  flagged: number;
  truePositives: number;
  fraudAmount: number;
  caughtAmount: number;
  /** null when there is nothing to divide by. */
  recall: number | null;
  precision: number | null;
  amountCaught: number | null;
}

export interface LabelDelay {
  source: string;
  labels: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

const modelSql = `
with judged as (
  select d.model_name, d.model_version, d.decision = 'fraud' as flagged,
         l.transaction_id is not null as labelled, coalesce(l.is_fraud, false) as is_fraud, t.amount
  from archive.decisions d
  left join archive.labels l on l.transaction_id = d.transaction_id
  left join archive.transactions t on t.transaction_id = d.transaction_id
  where d.decided_at < now() - $1::interval and d.decided_at >= now() - $1::interval - $2::interval
)
select model_name as name, model_version as version,
       count(*)::int as matured,
       count(*) filter (where labelled)::int as labelled,
       count(*) filter (where is_fraud)::int as frauds,
       count(*) filter (where flagged)::int as flagged,
       count(*) filter (where flagged and is_fraud)::int as true_positives,
       coalesce(sum(amount) filter (where is_fraud), 0)::float8 as fraud_amount,
       coalesce(sum(amount) filter (where is_fraud and flagged), 0)::float8 as caught_amount
from judged group by model_name, model_version order by 1, 2`;

// Delay from the decision (when the platform acted) to the current label; the transaction's own timestamp
// is the producer's clock and may be synthetic, the decision time is ours.
const delaySql = `
select l.source, count(*)::int as labels,
       percentile_cont(array[0.5, 0.9, 0.99]) within group (
         order by greatest(0, extract(epoch from l.labeled_at - d.decided_at))) as q
from archive.labels l join archive.decisions d on d.transaction_id = l.transaction_id
where l.labeled_at >= now() - $1::interval - $2::interval
group by l.source order by 1`;

const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

export async function computeQuality(
  store: Store,
  maturityMs: number,
  windowMs: number,
): Promise<{ models: ModelQuality[]; delays: LabelDelay[] }> {
  const params = [`${maturityMs} milliseconds`, `${windowMs} milliseconds`];
  const models = await store.pool.query<{
    name: string;
    version: string;
    matured: number;
    labelled: number;
    frauds: number;
    flagged: number;
    true_positives: number;
    fraud_amount: number;
    caught_amount: number;
  }>(modelSql, params);
  const delays = await store.pool.query<{ source: string; labels: number; q: (number | null)[] | null }>(
    delaySql,
    params,
  );
  return {
    models: models.rows.map((r) => ({
      name: r.name,
      version: r.version,
      matured: r.matured,
      labelled: r.labelled,
      frauds: r.frauds,
      flagged: r.flagged,
      truePositives: r.true_positives,
      fraudAmount: r.fraud_amount,
      caughtAmount: r.caught_amount,
      recall: ratio(r.true_positives, r.frauds),
      precision: ratio(r.true_positives, r.flagged),
      amountCaught: ratio(r.caught_amount, r.fraud_amount),
    })),
    delays: delays.rows.map((r) => ({
      source: r.source,
      labels: r.labels,
      p50: r.q?.[0] ?? null,
      p90: r.q?.[1] ?? null,
      p99: r.q?.[2] ?? null,
    })),
  };
}

/** Replaces the quality gauges with a fresh computation (a model version no longer judged disappears). */
export function publishQuality(
  metrics: ArchiveMetrics,
  result: Awaited<ReturnType<typeof computeQuality>>,
): void {
  for (const g of [
    metrics.recall,
    metrics.precision,
    metrics.amountCaught,
    metrics.matured,
    metrics.labelled,
    metrics.frauds,
    metrics.flagged,
  ])
    g.reset();
  metrics.labelDelay.reset();
  metrics.labelsInWindow.reset();
  for (const m of result.models) {
    const labels = { name: m.name, version: m.version };
    metrics.matured.set(labels, m.matured);
    metrics.labelled.set(labels, m.labelled);
    metrics.frauds.set(labels, m.frauds);
    metrics.flagged.set(labels, m.flagged);
    // No ratio without a denominator: an absent series, not a misleading 0.
    if (m.recall !== null) metrics.recall.set(labels, m.recall);
    if (m.precision !== null) metrics.precision.set(labels, m.precision);
    if (m.amountCaught !== null) metrics.amountCaught.set(labels, m.amountCaught);
  }
  for (const d of result.delays) {
    metrics.labelsInWindow.set({ source: d.source }, d.labels);
    for (const [quantile, value] of [
      ['0.5', d.p50],
      ['0.9', d.p90],
      ['0.99', d.p99],
    ] as const) {
      if (value !== null) metrics.labelDelay.set({ source: d.source, quantile }, value);
    }
  }
  metrics.qualityLastSuccess.set(Date.now() / 1000);
}
