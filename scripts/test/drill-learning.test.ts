// The learning drill as a test (issue 11): an attack pattern the bundled model has never seen, labels flowing
// into the archive, live recall falling, FraudModelRecallDrop firing through real Prometheus and Alertmanager,
// the retrain-hook starting a DAG run through a real Airflow API server, Airflow's scheduler running the DAG
// (retraining on the archive, registering in a real MLflow, the signed callback), the hook's gate on the
// MLflow run metrics and its promotion in MLflow, and live recall recovering on the version MLflow promoted.
// What it does not exercise is listed in its report.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { runLearningDrill } from '../drill/learning.mts';

interface LearningReport {
  recall_before?: number;
  recall_after?: number | null;
  version_before?: string;
  version?: string | null;
  dag_run?: {
    state: string;
    tasks: Record<string, string | null>;
    hook_answer: Record<string, unknown> | null;
  };
  mlflow?: { registered_version: string; champion: string; tags: Record<string, string> };
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
  // Airflow's scheduler ran the real DAG to the end; the DAG registered in MLflow and reached the hook.
  t.is(report.dag_run?.state, 'success');
  t.deepEqual(report.dag_run?.tasks, {
    extract: 'success',
    fetch_champion: 'success',
    validate: 'success',
    train: 'success',
    evaluate: 'success',
    register: 'success',
    notify: 'success',
  });
  t.like(report.dag_run?.hook_answer, { status: 200, decision: 'passed', rollout: 'promoted' });
  // The hook's gate (its tags) and promotion in MLflow; the scorer serves exactly what MLflow promoted.
  t.is(report.version_before, '1', 'the bundled model, registered as v1 @champion, served first');
  t.is(report.mlflow?.registered_version, '2');
  t.like(report.mlflow?.tags, {
    'gate.decision': 'passed',
    'rollout.state': 'promoted',
    'rollout.target': 'none',
  });
  t.is(report.mlflow?.champion, '2');
  t.is(report.version, report.mlflow?.champion, 'the scorer serves the version MLflow promoted');
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
