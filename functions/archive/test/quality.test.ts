// Live model quality on known data: precision, recall and money caught per model version, only from matured
// decisions, unlabelled matured decisions counted as legit, label delay quantiles; exported on /metrics.
import { startPostgres } from '@fraud/testkit/postgres';
import test from 'ava';
import { decision, label, postBinary, startTestArchive, TYPES, transaction, uniqueId } from './helpers.ts';

const metric = (text: string, name: string, labels: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
};

test('precision, recall and amount caught per model version, from matured decisions only', async (t) => {
  const pg = await startPostgres();
  const archive = await startTestArchive(pg, 'archive_quality', {
    labelMaturityMs: 3_600_000,
    qualityWindowMs: 7 * 86_400_000,
  });
  try {
    const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
    const send = async (opts: {
      version: string;
      flagged: boolean;
      fraud?: boolean;
      amount: number;
      decidedHoursAgo: number;
    }) => {
      const id = uniqueId();
      const decidedAt = hoursAgo(opts.decidedHoursAgo);
      const r = [
        await postBinary(archive.url, TYPES.transaction, transaction(id, { amount: opts.amount })),
        await postBinary(
          archive.url,
          TYPES.decision,
          decision(id, {
            decision: opts.flagged ? 'fraud' : 'legit',
            model: { name: 'fraud-detector', version: opts.version },
          }),
          { 'ce-time': decidedAt.toISOString() },
        ),
      ];
      if (opts.fraud !== undefined) {
        const source = opts.fraud ? 'chargeback' : 'analyst';
        const labeledAt = new Date(decidedAt.getTime() + (opts.fraud ? 1800 : 600) * 1000).toISOString();
        r.push(
          await postBinary(
            archive.url,
            TYPES.label,
            label(id, { is_fraud: opts.fraud, source, labeled_at: labeledAt }),
          ),
        );
      }
      if (r.some((x) => x.status !== 202)) throw new Error(JSON.stringify(r));
    };
    // Version 1, matured (2 h ago, maturity 1 h): 10 frauds of 10..100 EUR; the 6 largest flagged.
    for (let i = 1; i <= 10; i++)
      await send({ version: '1', flagged: i > 4, fraud: true, amount: i * 10, decidedHoursAgo: 2 });
    // Two false alarms: one confirmed legit, one never labelled (counts as legit once matured).
    await send({ version: '1', flagged: true, fraud: false, amount: 5, decidedHoursAgo: 2 });
    await send({ version: '1', flagged: true, amount: 5, decidedHoursAgo: 2 });
    // Correct legit decisions, labelled or not.
    await send({ version: '1', flagged: false, fraud: false, amount: 5, decidedHoursAgo: 3 });
    await send({ version: '1', flagged: false, amount: 5, decidedHoursAgo: 3 });
    // Not matured yet (10 minutes ago): a missed fraud that must not count.
    await send({ version: '1', flagged: false, fraud: true, amount: 1000, decidedHoursAgo: 0.17 });
    // Older than the window: not judged either.
    await send({ version: '1', flagged: false, fraud: true, amount: 1000, decidedHoursAgo: 24 * 9 });
    // Version 2: one fraud, caught.
    await send({ version: '2', flagged: true, fraud: true, amount: 70, decidedHoursAgo: 2 });

    await archive.refreshQuality();
    const text = await (await fetch(`${archive.url}/metrics`)).text();
    const v1 = 'name="fraud-detector",version="1"';
    const v2 = 'name="fraud-detector",version="2"';
    t.is(metric(text, 'fraud_archive_model_recall', v1), 0.6);
    t.is(metric(text, 'fraud_archive_model_precision', v1), 0.75);
    t.is(metric(text, 'fraud_archive_model_fraud_amount_caught_ratio', v1), 450 / 550);
    t.is(metric(text, 'fraud_archive_model_matured_decisions', v1), 14);
    t.is(metric(text, 'fraud_archive_model_labelled_decisions', v1), 12);
    t.is(metric(text, 'fraud_archive_model_labelled_frauds', v1), 10);
    t.is(metric(text, 'fraud_archive_model_flagged_decisions', v1), 8);
    t.is(metric(text, 'fraud_archive_model_recall', v2), 1);
    t.is(metric(text, 'fraud_archive_model_precision', v2), 1);
    // Every chargeback came 30 minutes after its decision, every analyst label 10 minutes after.
    t.is(
      Math.round(
        metric(text, 'fraud_archive_label_delay_seconds', 'source="chargeback",quantile="0.5"') ?? 0,
      ),
      1800,
    );
    t.is(
      Math.round(metric(text, 'fraud_archive_label_delay_seconds', 'source="analyst",quantile="0.99"') ?? 0),
      600,
    );
    t.regex(text, /fraud_archive_quality_last_success_timestamp_seconds \d+/);
    t.regex(text, /fraud_archive_quality_label_maturity_seconds 3600/);
  } finally {
    await archive.close();
    await pg.stop();
  }
});

test('no decisions, no ratios: recall and precision are absent rather than 0', async (t) => {
  const pg = await startPostgres();
  const archive = await startTestArchive(pg, 'archive_quality_empty', { labelMaturityMs: 0 });
  try {
    // A matured version with no labelled fraud and nothing flagged: counts, but no recall or precision.
    const id = uniqueId();
    await postBinary(archive.url, TYPES.decision, decision(id, { decision: 'legit' }), {
      'ce-time': new Date(Date.now() - 60_000).toISOString(),
    });
    await archive.refreshQuality();
    const text = await (await fetch(`${archive.url}/metrics`)).text();
    t.is(metric(text, 'fraud_archive_model_matured_decisions', 'name="fraud-detector",version="3"'), 1);
    t.is(metric(text, 'fraud_archive_model_recall', 'name="fraud-detector",version="3"'), undefined);
    t.is(metric(text, 'fraud_archive_model_precision', 'name="fraud-detector",version="3"'), undefined);
  } finally {
    await archive.close();
    await pg.stop();
  }
});
