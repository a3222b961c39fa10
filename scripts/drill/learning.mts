// The learning drill (`npm run drill -- --learning`), the part that runs on this machine today: the real
// local event path (Kafka, the KafkaSource stand-ins, the scorer on the bundled model, PostgreSQL and the
// archive function with its live model quality), attacked with bust_out, the pattern the bundled model has
// never seen, with labels flowing; live recall (the archive's fraud_archive_model_recall) falls; Prometheus
// (the platform's rules, time compressed) fires FraudModelRecallDrop; Alertmanager (the platform's config)
// delivers it with its bearer token to the retrain-hook, which starts a fraud_retrain run through a real
// Airflow API server; the drill, standing in for Airflow's scheduler, runs the DAG's own steps with that
// run's conf (source=archive, out-of-time holdout, champion judged on the same slice);
// the retrain-hook's gate (gate.json, decide()) judges the candidate; the scorer restarts on it; the attack
// runs again and live recall is read for the new version. Writes reports/drill-learning-<time>.json.
//
// Not in this drill yet (see the report's `not_exercised`): Airflow's scheduler executing the run, MLflow
// registration, the hook's gate on MLflow run metrics and its canary on a Knative Service (tested in the
// hook's rollout tests and airflow/tests/test_e2e_retrain.py).
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RunningAirflowApi, startAirflowApi } from '@fraud/testkit/airflow';
import { startAlertmanager } from '@fraud/testkit/alertmanager';
import { startKafka } from '@fraud/testkit/kafka';
import { venvPython } from '@fraud/testkit/paths';
import { freePort } from '@fraud/testkit/ports';
import { startPostgres } from '@fraud/testkit/postgres';
import { startProcess } from '@fraud/testkit/process';
import { startPrometheus } from '@fraud/testkit/prometheus';
import { startWebhookReceiver } from '@fraud/testkit/webhook-receiver';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../../functions/retrain-hook/src/config.ts';
import { decide } from '../../functions/retrain-hook/src/gate.ts';
import { createHook } from '../../functions/retrain-hook/src/hook.ts';
import { loadPolicy } from '../../functions/retrain-hook/src/policy.ts';
import { localAlertmanagerConfig } from '../../monitoring/src/alertmanager-config.ts';
import { localRuleFiles } from '../../monitoring/src/local-rules.ts';
import { repoRoot } from '../lib/repo.mts';
import { startLocalArchive } from '../local/archive.mts';
import { startDispatcher, startKafkaSinkBridge } from '../local/dispatcher.mts';
import { platformTopics } from '../local/kafka.mts';
import { startScorer } from '../local/scorer.mts';

interface Step {
  at: string;
  step: string;
  detail?: string;
}

export interface LearningOptions {
  attackSeconds: number;
  rate: number;
  bustOutShare: number;
  /** Decisions younger than this are not judged (labels come within seconds locally). */
  maturitySeconds: number;
  waitSeconds: number;
}

const timeline: Step[] = [];
function log(step: string, detail?: string) {
  timeline.push({ at: new Date().toISOString(), step, detail });
  console.log(`${new Date().toISOString().slice(11, 19)}  ${step}${detail ? `  (${detail})` : ''}`);
}

async function liveQuality(archiveUrl: string, version: string) {
  const text = await (await fetch(`${archiveUrl}/metrics`)).text();
  const read = (metric: string) => {
    const m = text.match(new RegExp(`^${metric}\\{[^}]*version="${version}"[^}]*\\} ([0-9.eE+-]+)$`, 'm'));
    return m ? Number(m[1]) : undefined;
  };
  return {
    recall: read('fraud_archive_model_recall'),
    frauds: read('fraud_archive_model_labelled_frauds'),
  };
}

async function waitForRecall(archiveUrl: string, version: string, minFrauds: number, seconds: number) {
  const deadline = Date.now() + seconds * 1000;
  let last: Awaited<ReturnType<typeof liveQuality>> = { recall: undefined, frauds: undefined };
  while (Date.now() < deadline) {
    last = await liveQuality(archiveUrl, version).catch(() => last);
    if (last.recall !== undefined && (last.frauds ?? 0) >= minFrauds) return last;
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new Error(
    `no live recall for version ${version} with >= ${minFrauds} labelled frauds within ${seconds} s (last: ${JSON.stringify(last)})`,
  );
}

// Children run through testkit's startProcess: the drill's event loop keeps turning while an attack or the
// training runs (Airflow's start-up polls), and a SIGTERM or exit of the drill kills them with its services.
async function runChild(name: string, command: string, args: string[]) {
  const child = startProcess({
    name,
    command,
    args,
    cwd: repoRoot,
    logDir: mkdtempSync(path.join(os.tmpdir(), `drill-${name}-`)),
  });
  const status = await child.exited;
  return { status, tail: child.tail(40) };
}

async function attack(bootstrap: string, seed: number, o: LearningOptions): Promise<void> {
  const legit = (1 - o.bustOutShare).toFixed(3);
  const args = [
    '--import', 'tsx', path.join(repoRoot, 'scripts', 'attack', 'cli.mts'),
    '--target', 'kafka', '--bootstrap', bootstrap, '--rate', String(o.rate), '--duration', String(o.attackSeconds),
    '--mix', `legit=${legit},bust_out=${o.bustOutShare}`, '--seed', String(seed),
    '--labels', '--label-delay', '2', '--chargeback-delay', '4', '--label-coverage', '0.3',
    '--report-dir', mkdtempSync(path.join(os.tmpdir(), 'drill-attack-')), '--quiet',
  ]; // biome-ignore format: one flag and its value per pair
  log(`attack (seed ${seed}) started`, `${o.attackSeconds} s at ${o.rate}/s, --labels`);
  const result = await runChild(`attack-${seed}`, process.execPath, args);
  if (result.status !== 0) throw new Error(`attack (seed ${seed}) failed: ${result.tail}`);
  log(`attack (seed ${seed}) done`);
}

/** The DAG's steps in the DAG's order on the archive; returns the gate inputs and the candidate's folder. */
async function retrainOnArchive(conf: Record<string, unknown>, work: string) {
  const code = `
import json, sys
from pathlib import Path
sys.path[:0] = ["${path.join(repoRoot, 'airflow')}", "${path.join(repoRoot, 'airflow', 'dags')}"]
import retrain_steps as steps
work = Path(sys.argv[1])
cfg = steps.RetrainConfig.from_params(json.loads(sys.argv[2]))
extracted = steps.extract(cfg, work)
validation = steps.validate(cfg, work, None)
trained = steps.train(cfg, work)
report = steps.evaluate(cfg, work, Path("${path.join(repoRoot, 'functions', 'score', 'model')}"))
Path(sys.argv[3]).write_text(json.dumps({"extracted": extracted, "report": report, "gate": steps.gate_metrics(report, validation, trained["parity"])}))
`;
  const resultFile = path.join(work, 'retrain-result.json');
  const result = await runChild('retrain', venvPython, ['-c', code, work, JSON.stringify(conf), resultFile]);
  if (result.status !== 0) throw new Error(`retraining on the archive failed: ${result.tail}`);
  return JSON.parse(readFileSync(resultFile, 'utf8')) as {
    extracted: { rows: number; positives: number };
    report: {
      holdout: string;
      holdout_rows: number;
      candidate: Record<string, number>;
      champion: Record<string, number>;
    };
    gate: Record<string, number>;
  };
}

/** Runs the drill; resolves to its exit code (0 recall recovered, 1 not) and the report's path. */
export async function runLearningDrill(o: LearningOptions): Promise<{ exitCode: number; file: string }> {
  const stoppers: (() => Promise<void>)[] = [];
  const started = new Date();
  let report: Record<string, unknown> = {};
  let exitCode = 1;
  try {
    log('start', `attack ${o.attackSeconds}s at ${o.rate}/s, bust_out share ${o.bustOutShare}`);
    const kafka = await startKafka({ topics: platformTopics() });
    stoppers.push(() => kafka.stop());
    const sink = await startKafkaSinkBridge({ bootstrap: kafka.bootstrap });
    stoppers.push(() => sink.stop());
    const scorerPort = await freePort();
    const scorerEnv = { DECISION_SINK_URL: sink.url, DECISION_SINK_DELIVERY: 'before-reply' };
    let scorer = await startScorer({ port: scorerPort, env: scorerEnv });
    const dispatcher = await startDispatcher({ bootstrap: kafka.bootstrap, sinkUrl: `${scorer.url}/` });
    stoppers.push(() => dispatcher.stop());
    const pg = await startPostgres({ database: 'archive' });
    stoppers.push(() => pg.stop());
    process.env.ARCHIVE_LABEL_MATURITY = `${o.maturitySeconds}s`;
    process.env.ARCHIVE_QUALITY_INTERVAL = '5s';
    const archive = await startLocalArchive({ databaseUrl: pg.url, port: await freePort() });
    stoppers.push(() => archive.stop());
    const archiveSource = await startDispatcher({
      bootstrap: kafka.bootstrap,
      sinkUrl: `${archive.url}/`,
      topics: ['transactions', 'decisions', 'labels'],
      group: 'fraud-archive-drill',
      deadLetterTopic: 'archive-dlq',
      ordering: 'unordered',
      name: 'archive-kafka-source-dispatcher',
    });
    stoppers.push(() => archiveSource.stop());
    log('platform ready', `scorer ${scorer.url}, archive ${archive.url}, kafka ${kafka.bootstrap}`);

    // The control plane: Airflow's API server (starts while the attack runs), the retrain-hook with its
    // Alertmanager trigger, Alertmanager and Prometheus with the platform's config and rules.
    const airflowStarting = startAirflowApi({ dagsFolder: 'airflow/dags' });
    airflowStarting.catch(() => {});
    const attack1 = attack(kafka.bootstrap, 101, o);
    attack1.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"

    const airflow: RunningAirflowApi = await airflowStarting;
    stoppers.push(() => airflow.stop());
    log('Airflow API server ready', airflow.url);
    const token = `drill-${Math.random().toString(36).slice(2)}-alertmanager-token`;
    const conf = {
      source: 'archive',
      archive_conn: pg.url.replace(/^postgres:/, 'postgresql:'),
      label_maturity: `${o.maturitySeconds}s`,
      window_days: 400, // the generator's timestamps start on 2026-11-01
      min_rows: 500,
    };
    const closedKube = new KubeConfig();
    closedKube.loadFromOptions({
      clusters: [{ name: 'none', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'none', token: 'none' }],
      contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
      currentContext: 'none',
    });
    const hook = createHook(
      loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'error',
        AIRFLOW_HMAC_SECRET: `drill-${Math.random().toString(36).slice(2)}-hmac-secret`,
        MLFLOW_TRACKING_URI: `http://127.0.0.1:${await freePort()}`,
        ALERTMANAGER_BEARER_TOKEN: token,
        AIRFLOW_API_URL: airflow.url,
        AIRFLOW_USERNAME: airflow.username,
        AIRFLOW_PASSWORD: airflow.password,
        RETRAIN_DAG_CONF: JSON.stringify(conf),
      }),
      closedKube,
    );
    const hookUrl = await hook.start();
    stoppers.push(() => hook.stop());
    const receiver = await startWebhookReceiver();
    stoppers.push(() => receiver.stop());
    const am = await startAlertmanager(
      localAlertmanagerConfig({
        receiverUrl: receiver.url,
        retrainHookUrl: `${hookUrl}/alertmanager/webhook`,
        retrainHookToken: token,
        timeScale: 60,
      }),
    );
    stoppers.push(() => am.stop());
    const address = (url: string) => new URL(url).host;
    const prom = await startPrometheus({
      rules: localRuleFiles({ timeScale: 60, cpuRequestCores: 0.05 }).map((f) => f.content),
      scrapeTargets: [
        {
          job: 'score',
          targets: [address(scorer.url)],
          labels: { namespace: 'local', service: 'score', revision: 'score-local' },
        },
        {
          job: 'archive',
          targets: [address(archive.url)],
          labels: { namespace: 'local', service: 'archive' },
        },
      ],
      alertmanagerUrl: am.url,
    });
    stoppers.push(() => prom.stop());
    log('control plane ready', `hook ${hookUrl}, Alertmanager ${am.url}, Prometheus ${prom.url}`);

    await attack1; // it ran while Airflow's migrations ran
    const before = await waitForRecall(archive.url, 'bundled', 30, o.waitSeconds);
    log('live recall measured', `bundled: recall ${before.recall} over ${before.frauds} labelled frauds`);

    const deadline = Date.now() + o.waitSeconds * 1000;
    let firing = false;
    while (!firing && Date.now() < deadline) {
      firing = (await prom.alerts()).some(
        (a) => a.labels.alertname === 'FraudModelRecallDrop' && a.state === 'firing',
      );
      if (!firing) await new Promise((r) => setTimeout(r, 1000));
    }
    if (!firing) throw new Error(`FraudModelRecallDrop did not fire within ${o.waitSeconds} s`);
    log('Prometheus: FraudModelRecallDrop firing');
    type Run = { dag_run_id: string; conf: Record<string, unknown>; state: string };
    let run: Run | undefined;
    while (!run && Date.now() < deadline) {
      const { body } = await airflow.get('/dags/fraud_retrain/dagRuns?limit=20');
      run = (body as { dag_runs?: Run[] }).dag_runs?.find((r) => r.dag_run_id.startsWith('alert__'));
      if (!run) await new Promise((r) => setTimeout(r, 1000));
    }
    if (!run) throw new Error('Alertmanager -> retrain-hook -> Airflow: no alert__ DAG run appeared');
    log('Airflow: DAG run triggered by the retrain-hook', `${run.dag_run_id} (${run.state})`);

    const work = mkdtempSync(path.join(os.tmpdir(), 'drill-retrain-'));
    // Let the last labels mature before the extract, as the DAG's label_maturity demands.
    await new Promise((r) => setTimeout(r, (o.maturitySeconds + 5) * 1000));
    const trained = await retrainOnArchive(run.conf, work);
    log(
      'retrained on the archive',
      `${trained.extracted.rows} rows, ${trained.extracted.positives} fraud; out-of-time holdout ${trained.report.holdout_rows}: ` +
        `candidate pr_auc ${trained.report.candidate.pr_auc?.toFixed(3)} vs champion ${trained.report.champion?.pr_auc?.toFixed(3)}`,
    );
    const decision = decide(
      trained.gate,
      loadPolicy(path.join(repoRoot, 'functions', 'retrain-hook', 'gate.json')).gate,
    );
    log(
      `gate ${decision.passed ? 'passed' : 'rejected'}`,
      decision.reasons.join('; ') || decision.notes.join('; '),
    );
    const version = `drill-${started.toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
    const cardFile = path.join(work, 'model', 'model-card.json');
    writeFileSync(
      cardFile,
      JSON.stringify({ ...JSON.parse(readFileSync(cardFile, 'utf8')), version }, null, 2),
    );
    let after: Awaited<ReturnType<typeof liveQuality>> | undefined;
    if (decision.passed) {
      await scorer.stop();
      scorer = await startScorer({
        port: scorerPort,
        env: { ...scorerEnv, MODEL_URI: path.join(work, 'model') },
        build: false,
      });
      log('new model serving', `version ${version}`);
      await attack(kafka.bootstrap, 202, o);
      after = await waitForRecall(archive.url, version, 30, o.waitSeconds);
      log('live recall measured', `${version}: recall ${after.recall} over ${after.frauds} labelled frauds`);
    }
    const recovered =
      after?.recall !== undefined && before.recall !== undefined && after.recall > before.recall + 0.2;
    exitCode = recovered ? 0 : 1;
    report = {
      recall_before: before.recall,
      recall_after: after?.recall ?? null,
      version: decision.passed ? version : null,
      gate: decision,
      evaluation: trained.report,
      timeline,
      not_exercised: [
        "Airflow's scheduler executing the run (the drill runs the DAG's steps with the run's conf)",
        'MLflow registration and the hook gate reading MLflow run metrics (the drill calls the same decide() on the same metrics)',
        'the canary on a Knative Service (the drill restarts the local scorer on the candidate)',
      ],
    };
    stoppers.push(() => scorer.stop());
  } catch (error) {
    log('failed', (error as Error).message);
    report = { ...report, error: (error as Error).message, timeline };
  } finally {
    for (const stop of stoppers.reverse()) await stop().catch(() => {});
  }
  const dir = path.join(repoRoot, 'reports');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `drill-learning-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`report: ${path.relative(repoRoot, file)}`);
  return { exitCode, file };
}
