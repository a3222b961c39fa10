// The learning drill (`npm run drill -- --learning`): the real local event path (Kafka, the KafkaSource
// stand-ins, the scorer, PostgreSQL and the archive function with its live model quality) serving MLflow's
// `champion` (the bundled model, registered as v1 in a real MLflow server), attacked with bust_out, the
// pattern that model has never seen, with labels flowing; live recall (the archive's fraud_archive_model_recall)
// falls; Prometheus (the platform's rules, time compressed) fires FraudModelRecallDrop; Alertmanager (the
// platform's config) delivers it with its bearer token to the retrain-hook, which starts a fraud_retrain run
// (conf source=archive) through a real Airflow API server; Airflow's own scheduler (LocalExecutor, DAG
// processor) executes the real DAG: extract from the archive (out-of-time holdout), fetch the champion from
// MLflow, validate, train, evaluate (champion on the same slice), register v2 in MLflow, and the signed
// callback to the hook's HTTP endpoint; the hook's gate reads the MLflow run metrics and, with no rollout
// target (ROLLOUT_TARGET=none: no Kubernetes here), moves `champion` in MLflow; the drill restarts the scorer
// on models:/fraud-detector@champion, attacks again and reads live recall for the version MLflow promoted.
// Writes reports/drill-learning-<time>.json.
//
// Not in this drill (the report's `not_exercised`): the canary on a Knative Service (on a real node in the
// hook's rollout tests, and for a model retrained on the archive in airflow/tests/test_e2e_retrain.py).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RunningAirflowApi, startAirflowApi } from '@fraud/testkit/airflow';
import { startAirflowScheduler } from '@fraud/testkit/airflow-scheduler';
import { startAlertmanager } from '@fraud/testkit/alertmanager';
import { startKafka } from '@fraud/testkit/kafka';
import { startMlflow } from '@fraud/testkit/mlflow';
import { freePort } from '@fraud/testkit/ports';
import { startPostgres } from '@fraud/testkit/postgres';
import { startProcess } from '@fraud/testkit/process';
import { startPrometheus } from '@fraud/testkit/prometheus';
import { startWebhookReceiver } from '@fraud/testkit/webhook-receiver';
import { loadConfig } from '../../functions/retrain-hook/src/config.ts';
import { createHook } from '../../functions/retrain-hook/src/hook.ts';
import { localAlertmanagerConfig } from '../../monitoring/src/alertmanager-config.ts';
import { localRuleFiles } from '../../monitoring/src/local-rules.ts';
import { repoRoot } from '../lib/repo.mts';
import { startLocalArchive } from '../local/archive.mts';
import { startDispatcher, startKafkaSinkBridge } from '../local/dispatcher.mts';
import { platformTopics } from '../local/kafka.mts';
import { startScorer } from '../local/scorer.mts';
import { followDagRun } from './dag-run.mts';
import {
  aliasVersion,
  latestVersion,
  MODEL_NAME,
  registerChampion,
  versionJson,
} from './mlflow-registry.mts';

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

/** The version the scorer serves (its KServe v2 model metadata: the card's version, MLflow's for models:/). */
async function servedVersion(scorerUrl: string): Promise<string | undefined> {
  const body = (await (await fetch(`${scorerUrl}/v2/models/fraud-detector`)).json()) as {
    versions?: string[];
  };
  return body.versions?.[0];
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
    // The registry: a real MLflow server; the bundled model is its first version and `champion`, and the
    // scorer serves whatever `champion` names (a cache dir of this run's own: versions are per server).
    const mlflow = await startMlflow();
    stoppers.push(() => mlflow.stop());
    const firstChampion = await registerChampion(
      mlflow.url,
      path.join(repoRoot, 'functions', 'score', 'model'),
    );
    log(
      'MLflow ready',
      `${mlflow.url}: the bundled model registered as ${MODEL_NAME} v${firstChampion} @champion`,
    );
    const scorerPort = await freePort();
    const scorerEnv = {
      DECISION_SINK_URL: sink.url,
      DECISION_SINK_DELIVERY: 'before-reply',
      GRPC_PORT: '0', // any free port: the drill uses REST only, and 8085 may be another scorer's
      MODEL_URI: `models:/${MODEL_NAME}@champion`,
      MLFLOW_TRACKING_URI: mlflow.url,
      MODEL_CACHE_DIR: mkdtempSync(path.join(os.tmpdir(), 'drill-model-cache-')),
    };
    let scorer = await startScorer({ port: scorerPort, env: scorerEnv });
    stoppers.push(() => scorer.stop()); // whichever scorer runs by then
    const versionBefore = await servedVersion(scorer.url);
    if (versionBefore !== firstChampion)
      throw new Error(`the scorer serves ${versionBefore}, not the champion v${firstChampion}`);
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
    log(
      'platform ready',
      `scorer ${scorer.url} on v${versionBefore}, archive ${archive.url}, kafka ${kafka.bootstrap}`,
    );

    // The control plane: Airflow's API server (starts while the attack runs; FRAUD_RETRAIN_SCHEDULE=none:
    // the scheduler below starts no scheduled run beside the alert's), the retrain-hook with its
    // Alertmanager trigger and no rollout target, Airflow's scheduler, Alertmanager and Prometheus.
    const airflowStarting = startAirflowApi({
      dagsFolder: 'airflow/dags',
      env: { FRAUD_RETRAIN_SCHEDULE: 'none' },
    });
    airflowStarting.catch(() => {});
    const attack1 = attack(kafka.bootstrap, 101, o);
    attack1.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"

    const airflow: RunningAirflowApi = await airflowStarting;
    stoppers.push(() => airflow.stop());
    log('Airflow API server ready', airflow.url);
    const token = `drill-${randomBytes(12).toString('hex')}-alertmanager-token`;
    const hmacSecret = `drill-${randomBytes(16).toString('hex')}-hmac-secret`;
    const conf = {
      source: 'archive',
      archive_conn: pg.url.replace(/^postgres:/, 'postgresql:'),
      label_maturity: `${o.maturitySeconds}s`,
      window_days: 400, // the generator's timestamps start on 2026-11-01
      min_rows: 500,
    };
    const hook = createHook(
      loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'error',
        AIRFLOW_HMAC_SECRET: hmacSecret,
        MLFLOW_TRACKING_URI: mlflow.url,
        // No Kubernetes here: the gate's verdict is carried out in MLflow only (functions/retrain-hook README).
        ROLLOUT_TARGET: 'none',
        ALERTMANAGER_BEARER_TOKEN: token,
        AIRFLOW_API_URL: airflow.url,
        AIRFLOW_USERNAME: airflow.username,
        AIRFLOW_PASSWORD: airflow.password,
        RETRAIN_DAG_CONF: JSON.stringify(conf),
      }),
    );
    const hookUrl = await hook.start();
    stoppers.push(() => hook.stop());
    const scheduler = await startAirflowScheduler(airflow, {
      unpause: ['fraud_retrain'],
      env: {
        // What the DAG's tasks read (airflow/README.md): the registry, the hook's signed callback, a work dir.
        MLFLOW_TRACKING_URI: mlflow.url,
        FRAUD_RETRAIN_HOOK_URL: hookUrl,
        FRAUD_RETRAIN_HOOK_SECRET: hmacSecret,
        FRAUD_RETRAIN_HOOK_ATTEMPTS: '3',
        FRAUD_WORK_DIR: mkdtempSync(path.join(os.tmpdir(), 'drill-retrain-')),
      },
    });
    stoppers.push(() => scheduler.stop());
    log('Airflow scheduler ready', 'LocalExecutor, DAG processor, fraud_retrain unpaused');
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
    const before = await waitForRecall(archive.url, versionBefore, 30, o.waitSeconds);
    log(
      'live recall measured',
      `v${versionBefore}: recall ${before.recall} over ${before.frauds} labelled frauds`,
    );

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

    // Airflow's scheduler runs it: extract (the archive, out-of-time holdout) → fetch_champion → validate →
    // train → evaluate (champion on the same slice) → register in MLflow → notify the hook (signed).
    const dagRun = await followDagRun(
      airflow,
      'fraud_retrain',
      run.dag_run_id,
      Math.max(o.waitSeconds, 600),
      log,
    );
    if (dagRun.state !== 'success') {
      const failed = Object.entries(dagRun.tasks).filter(([, state]) => state !== 'success');
      throw new Error(
        `DAG run ${run.dag_run_id} ${dagRun.state}: ${JSON.stringify(Object.fromEntries(failed))}; scheduler log ${scheduler.scheduler.logFile}`,
      );
    }
    const xcom = async (task: string) =>
      (
        await airflow.get(
          `/dags/fraud_retrain/dagRuns/${encodeURIComponent(run.dag_run_id)}/taskInstances/${task}/xcomEntries/return_value`,
        )
      ).body as { value?: unknown };
    const extracted = (await xcom('extract')).value as { rows?: number; positives?: number } | undefined;
    // The notify task's result: the hook's answer to the DAG's signed callback, as the DAG received it.
    const notified = (await xcom('notify')).value as { hook?: Record<string, unknown> } | undefined;
    const registered = await latestVersion(mlflow.url);
    const evaluation = (await versionJson(mlflow.url, registered.version, 'evaluation-report.json')) as {
      holdout_rows: number;
      candidate: Record<string, number>;
      champion: Record<string, number> | null;
    };
    log(
      `MLflow: v${registered.version} registered by the DAG`,
      `trained on ${extracted?.rows} archived rows, ${extracted?.positives} fraud; out-of-time holdout ${evaluation.holdout_rows}: ` +
        `pr_auc ${registered.metrics.pr_auc?.toFixed(3)} vs champion ${registered.metrics.champion_pr_auc?.toFixed(3)}`,
    );
    const gate = {
      decision: registered.tags['gate.decision'],
      reasons: JSON.parse(registered.tags['gate.reasons'] ?? '[]') as string[],
      notes: JSON.parse(registered.tags['gate.notes'] ?? '[]') as string[],
    };
    log(
      "retrain-hook answered the DAG's signed callback",
      `HTTP ${notified?.hook?.status}: decision ${notified?.hook?.decision}, rollout ${notified?.hook?.rollout}`,
    );
    log(
      `retrain-hook gate ${gate.decision} (on the MLflow run metrics)`,
      [...gate.reasons, ...gate.notes].join('; '),
    );
    const champion = await aliasVersion(mlflow.url, 'champion');
    log(
      `MLflow: champion -> v${champion}`,
      `rollout.state ${registered.tags['rollout.state']}, rollout.target ${registered.tags['rollout.target']}`,
    );
    let after: Awaited<ReturnType<typeof liveQuality>> | undefined;
    let served: string | undefined;
    if (
      gate.decision === 'passed' &&
      champion === registered.version &&
      registered.tags['rollout.state'] === 'promoted'
    ) {
      await scorer.stop();
      scorer = await startScorer({ port: scorerPort, env: scorerEnv, build: false });
      served = await servedVersion(scorer.url);
      log('new model serving', `scorer restarted on models:/${MODEL_NAME}@champion: v${served}`);
      if (served !== champion)
        throw new Error(`the scorer serves v${served}, MLflow's champion is v${champion}`);
      await attack(kafka.bootstrap, 202, o);
      after = await waitForRecall(archive.url, served, 30, o.waitSeconds);
      log('live recall measured', `v${served}: recall ${after.recall} over ${after.frauds} labelled frauds`);
    }
    const recovered =
      after?.recall !== undefined && before.recall !== undefined && after.recall > before.recall + 0.2;
    exitCode = recovered ? 0 : 1;
    report = {
      recall_before: before.recall,
      recall_after: after?.recall ?? null,
      version_before: versionBefore,
      version: served ?? null,
      dag_run: {
        dag_run_id: run.dag_run_id,
        state: dagRun.state,
        tasks: dagRun.tasks,
        hook_answer: notified?.hook ?? null,
      },
      mlflow: {
        registered_version: registered.version,
        run_id: registered.runId,
        champion,
        tags: registered.tags,
        gate_metrics: registered.metrics,
      },
      gate,
      evaluation,
      timeline,
      not_exercised: [
        'the canary on a Knative Service: there is no Kubernetes in this drill, so the hook runs with ' +
          'ROLLOUT_TARGET=none (gate on the MLflow run metrics, then alias champion moved in MLflow only) and ' +
          `the drill restarts the local scorer on models:/${MODEL_NAME}@champion; the canary, its observation ` +
          "and rollback run on a real node in the hook's rollout tests, and a model retrained on the archive " +
          'passes its canary there in airflow/tests/test_e2e_retrain.py',
      ],
    };
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
