// The learning drill as a test (issue 11): an attack pattern the bundled model has never seen, labels flowing
// into the archive, live recall falling, FraudModelRecallDrop firing through real Prometheus and Alertmanager,
// the retrain-hook starting a DAG run through a real Airflow API server, retraining on the archive, the gate,
// and live recall recovering on the new model. What it does not exercise is listed in its report.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { runLearningDrill } from '../drill/learning.mts';

interface LearningReport {
  recall_before?: number;
  recall_after?: number | null;
  version?: string | null;
  error?: string;
  timeline: { at: string; step: string; detail?: string }[];
  not_exercised?: string[];
}

test('the learning drill: recall falls on an unseen pattern, the alert retrains on the archive, recall recovers', async (t) => {
  t.timeout(30 * 60_000);
  const { exitCode, file } = await runLearningDrill({
    attackSeconds: 45,
    rate: 100,
    bustOutShare: 0.1,
    maturitySeconds: 15,
    waitSeconds: 240,
  });
  const report = JSON.parse(readFileSync(file, 'utf8')) as LearningReport;
  t.log(`report ${file}`);
  for (const step of report.timeline)
    t.log(`${step.at.slice(11, 19)} ${step.step}${step.detail ? ` (${step.detail})` : ''}`);
  t.is(exitCode, 0, report.error ?? 'the drill reported no recovery');
  t.true(
    (report.recall_before ?? 1) < 0.3,
    `recall before ${report.recall_before}: the unseen pattern is missed`,
  );
  t.true(
    (report.recall_after ?? 0) > (report.recall_before ?? 1) + 0.2,
    `recall after ${report.recall_after} is well above before ${report.recall_before}`,
  );
  t.truthy(report.version, 'the gate promoted a version');
  const steps = report.timeline.map((s) => `${s.step} ${s.detail ?? ''}`);
  t.true(
    steps.some((s) => /FraudModelRecallDrop.*firing/i.test(s)),
    'the alert fired',
  );
  t.true(
    steps.some((s) => /Airflow: DAG run triggered by the retrain-hook/.test(s)),
    'the hook started an Airflow run',
  );
});
