#!/usr/bin/env -S npx tsx
// The live alert drill (`npm run drill`): on this machine, with real processes, it runs Kafka, the local
// dispatcher (KafkaSource stand-in) in front of each scorer instance, a Kafka exporter stand-in, Prometheus with the platform's rules
// (the local variant generated from monitoring/rules/, time compressed), Alertmanager with the platform's
// config and a local receiver. It sends legit traffic, then runs the attack generator until the alerts that can fire
// locally fire, checks Alertmanager delivered them, stops the attack, checks they resolve, prints a
// timeline and exits non-zero if any step did not happen in time.
//
//   npm run drill [-- --time-scale 10 --scorers 2 --attack-rate 600 --background-rate 40 --cpu-request 0.05]
//   npm run drill -- --learning [--attack-seconds 60 --attack-rate 100 --bust-out-share 0.1 --label-maturity 15 --wait 180]
//     the learning drill (scripts/drill/learning.mts): reports/drill-learning-<time>.json
//   npm run drill -- --cluster [--overlay cpu|requests|both]   on a real node with real Knative (drill-cluster.mts)
//
// Exit codes: 0 all steps on time; 1 a step missed its deadline (or a service failed); 2 bad options.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { transactionMessage } from '@fraud/local-dispatcher/transaction-event';
import { startAlertmanager } from '@fraud/testkit/alertmanager';
import { startKafka } from '@fraud/testkit/kafka';
import { type ManagedProcess, startProcess } from '@fraud/testkit/process';
import { type PrometheusAlert, startPrometheus } from '@fraud/testkit/prometheus';
import { type ReceivedNotification, startWebhookReceiver } from '@fraud/testkit/webhook-receiver';
import { TransactionSource } from '@fraud/transactions';
import type { Producer } from 'kafkajs';
import { argv } from 'zx';
import { localAlertmanagerConfig } from '../monitoring/src/alertmanager-config.ts';
import { startKafkaExporter } from '../monitoring/src/kafka-exporter.ts';
import { localRuleFiles } from '../monitoring/src/local-rules.ts';
import { startLocalScorer } from '../monitoring/src/local-scorer.ts';
import { MissedStep, within } from './drill/steps.mts';
import { repoRoot } from './lib/repo.mts';

// `--cluster`: the same drill on a real node with real Knative Serving (scripts/drill-cluster.mts).
if (argv.cluster !== undefined) {
  const { clusterDrillCli } = await import('./drill-cluster.mts');
  process.exit(await clusterDrillCli(argv));
}

/** Alerts the drill must see fire, be delivered and resolve. */
export const requiredAlerts = ['FraudRateSpike', 'FraudScoringHighCPU'] as const;
/** Alerts that must stay silent: the local platform has 2 instances, all ready, and no decision sink. */
export const forbiddenAlerts = ['FraudScoringAtMaxScale', 'FraudScorerDown', 'FraudScorerNotReady'] as const;
/** Cluster-only inputs: these alerts run locally on stand-in series (monitoring/local/adapters.yaml). */
export const adaptedAlerts = ['FraudScoringAtMaxScale', 'FraudScoringHighCPU', 'FraudScorerDown'] as const;

// `--learning`: the learning drill (scripts/drill/learning.mts), its own options.
if (argv.learning) {
  const { runLearningDrill } = await import('./drill/learning.mts');
  const learningOptions = [
    'learning',
    'attack-seconds',
    'attack-rate',
    'bust-out-share',
    'label-maturity',
    'wait',
  ];
  const unknownLearning = Object.keys(argv).filter((k) => k !== '_' && !learningOptions.includes(k));
  if (unknownLearning.length > 0 || argv._.length > 0) {
    console.error(
      `drill --learning: unknown option(s) ${[...unknownLearning.map((k) => `--${k}`), ...argv._].join(', ')}; known: ${learningOptions.map((k) => `--${k}`).join(' ')}`,
    );
    process.exit(2);
  }
  const num = (name: string, fallback: number) => {
    const value = argv[name] === undefined ? fallback : Number(argv[name]);
    const max = name === 'bust-out-share' ? 1 : 100_000;
    if (!Number.isFinite(value) || value <= 0 || value > max) {
      console.error(
        `drill --learning: --${name} must be a number in (0, ${max}], got ${JSON.stringify(argv[name])}`,
      );
      process.exit(2);
    }
    return value;
  };
  const { exitCode } = await runLearningDrill({
    attackSeconds: num('attack-seconds', 60),
    rate: num('attack-rate', 100),
    bustOutShare: num('bust-out-share', 0.1),
    maturitySeconds: num('label-maturity', 15),
    waitSeconds: num('wait', 180),
  });
  process.exit(exitCode);
}

const knownOptions = [
  'time-scale',
  'scorers',
  'attack-rate',
  'background-rate',
  'cpu-request',
  'warmup',
  'fire-within',
  'deliver-within',
  'resolve-within',
];
const unknown = Object.keys(argv).filter((k) => k !== '_' && !knownOptions.includes(k));
if (unknown.length > 0 || argv._.length > 0) {
  const what = [...unknown.map((k) => `--${k}`), ...argv._.map(String)].join(', ');
  console.error(`drill: unknown option(s) ${what}; known: ${knownOptions.map((k) => `--${k}`).join(' ')}`);
  process.exit(2);
}

function option(name: string, fallback: number, min: number, max: number): number {
  const raw = argv[name];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    console.error(`drill: --${name} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const timeScale = option('time-scale', 10, 1, 60);
const scorerCount = Math.round(option('scorers', 2, 1, 5));
const attackRate = option('attack-rate', 600, 10, 20_000);
const backgroundRate = option('background-rate', 40, 1, 1000);
const cpuRequest = option('cpu-request', 0.05, 0.005, 8);
const warmupSeconds = option('warmup', 20, 5, 600);
/** Deadlines, in seconds, for each phase (the attack never runs longer than fireWithin). */
const fireWithin = option('fire-within', 180, 10, 1800);
const deliverWithin = option('deliver-within', 60, 5, 600);
const resolveWithin = option('resolve-within', 180, 10, 1800);

interface Step {
  at: Date;
  step: string;
  detail?: string;
}
const timeline: Step[] = [];
let attackStartedAt: Date | undefined;
const since = (d: Date) => {
  const origin = attackStartedAt ?? timeline[0]?.at ?? d;
  const s = (d.getTime() - origin.getTime()) / 1000;
  return `${s >= 0 ? '+' : ''}${s.toFixed(1)}s`;
};
function mark(step: string, detail?: string, at = new Date()): void {
  timeline.push({ at, step, detail });
  console.log(`${at.toISOString()}  ${step}${detail ? `  (${detail})` : ''}`);
}

/** Sends generated transactions to Kafka at a steady rate until stopped. */
function produceAtRate(producer: Producer, rate: number, source: TransactionSource, label: string) {
  let running = true;
  let sent = 0;
  const tickMs = 100;
  const done = (async () => {
    let next = Date.now();
    let carry = 0;
    while (running) {
      carry += (rate * tickMs) / 1000;
      const count = Math.floor(carry);
      carry -= count;
      if (count > 0) {
        const messages = Array.from({ length: count }, () => {
          const { is_fraud: _f, pattern: _p, ...tx } = source.next();
          return transactionMessage(tx, { source: `/drill/${label}` });
        });
        await producer.send({ topic: 'transactions', messages });
        sent += count;
      }
      next += tickMs;
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
  })();
  return {
    get sent() {
      return sent;
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

const firingState = new Map<string, { pendingAt?: Date; firingAt?: Date; resolvedAt?: Date }>();
function observe(alerts: PrometheusAlert[]): void {
  const now = new Date();
  const active = new Set<string>();
  for (const a of alerts) {
    const name = a.labels.alertname!;
    active.add(name);
    const s = firingState.get(name) ?? {};
    if (!s.pendingAt) s.pendingAt = now;
    if (a.state === 'firing' && !s.firingAt) {
      s.firingAt = now;
      mark(`Prometheus: ${name} firing`, a.annotations.summary);
    }
    s.resolvedAt = undefined;
    firingState.set(name, s);
  }
  for (const [name, s] of firingState) {
    if (!active.has(name) && s.firingAt && !s.resolvedAt) {
      s.resolvedAt = now;
      mark(`Prometheus: ${name} resolved`);
    }
  }
}

const isDelivery = (
  n: ReceivedNotification,
  alert: string,
  status: 'firing' | 'resolved',
  receiver: string,
) =>
  n.path === `/${receiver}` &&
  (receiver === 'pager'
    ? n.alertmanager?.status === status && n.alertmanager.commonLabels.alertname === alert
    : (n.slack?.attachments[0]?.title ?? '').startsWith(`[${status.toUpperCase()}`) &&
      (n.slack?.attachments[0]?.title ?? '').includes(` ${alert}`));

/** One line every few seconds so a slow drill shows where it stands. */
async function printProgress(query: (expr: string) => Promise<{ value: [number, string] }[]>): Promise<void> {
  const read = async (expr: string) => {
    const [s] = await query(expr).catch(() => []);
    return s ? Number(s.value[1]).toFixed(3) : '-';
  };
  const [cpu, fraud, up, lag] = await Promise.all([
    read('max(fraud:scorer_cpu_usage:ratio_of_request)'),
    read('max(fraud:scorer_fraud_decisions:ratio_rate5m)'),
    read('sum(up{job="score"})'),
    read('sum(kafka_consumergroup_lag{topic="transactions"})'),
  ]);
  console.log(`  ... cpu/request ${cpu}  fraud share ${fraud}  scorers up ${up}  lag ${lag}`);
}

async function main(): Promise<number> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'fraud-drill-'));
  const stops: (() => Promise<void>)[] = [];
  let failure: string | undefined;
  try {
    mark('drill start', `time scale 1/${timeScale}, ${scorerCount} scorers, attack ${attackRate}/s`);
    const receiver = await startWebhookReceiver();
    stops.push(() => receiver.stop());
    const am = await startAlertmanager(localAlertmanagerConfig({ receiverUrl: receiver.url, timeScale }));
    stops.push(() => am.stop());
    const kafka = await startKafka({
      topics: [
        { topic: 'transactions', partitions: 4 },
        { topic: 'decisions', partitions: 1 },
        { topic: 'transactions-dlq', partitions: 1 },
      ],
    });
    stops.push(() => kafka.stop());
    const exporter = await startKafkaExporter(kafka.bootstrap);
    stops.push(() => exporter.stop());

    const scorers = await Promise.all(
      Array.from({ length: scorerCount }, (_, i) =>
        startLocalScorer({ name: `score-${i}`, logDir: workDir }),
      ),
    );
    for (const s of scorers) stops.push(() => s.stop());
    // One dispatcher per scorer in one consumer group: partitions are shared out like a KafkaSource's.
    const dispatchers: ManagedProcess[] = scorers.map((scorer, i) =>
      startProcess({
        name: `dispatcher-${i}`,
        command: process.execPath,
        args: [
          '--import',
          'tsx',
          path.join(repoRoot, 'packages', 'local-dispatcher', 'src', 'main.ts'),
          'dispatcher',
        ],
        cwd: repoRoot,
        env: {
          KAFKA_BOOTSTRAP: kafka.bootstrap,
          SINK_URL: `${scorer.url}/`,
          GROUP_ID: 'score-transactions',
          TOPICS: 'transactions',
          DEAD_LETTER_TOPIC: 'transactions-dlq',
          ORDERING: 'unordered',
          INITIAL_OFFSET: 'earliest',
        },
        logDir: workDir,
      }),
    );
    for (const d of dispatchers) stops.push(() => d.stop());

    const prom = await startPrometheus({
      rules: localRuleFiles({ timeScale, cpuRequestCores: cpuRequest }).map((f) => f.content),
      scrapeTargets: [
        {
          job: 'score',
          targets: scorers.map((s) => s.address),
          labels: { namespace: 'local', service: 'score', revision: 'score-local' },
        },
        { job: 'kafka-exporter', targets: [exporter.address] },
      ],
      alertmanagerUrl: am.url,
    });
    stops.push(() => prom.stop());
    mark('services ready', `Prometheus ${prom.url}, Alertmanager ${am.url}, Kafka ${kafka.bootstrap}`);

    const producer = kafka.client('drill').producer();
    await producer.connect();
    stops.push(() => producer.disconnect());
    const watcher = setInterval(() => void prom.alerts().then(observe, () => undefined), 1000);
    stops.push(async () => clearInterval(watcher));

    // Legit traffic through the whole drill, at the generator's own fraud ratio (2%).
    const background = produceAtRate(
      producer,
      backgroundRate,
      new TransactionSource({ seed: 1 }),
      'background',
    );
    stops.push(() => background.stop());
    await within(60, 'background traffic scored through the dispatchers', async () => {
      const [s] = await prom.query('sum(fraud_scorer_decisions_total{job="score"})');
      return Number(s?.value[1] ?? 0) > 0 ? true : undefined;
    });
    mark('background traffic scored', `${backgroundRate}/s through ${dispatchers.length} dispatchers`);
    await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
    // The alerts under test must be quiet before the attack, or the drill would prove nothing: startup
    // (JIT, model load) can leave FraudScoringHighCPU pending for a few seconds, so wait for 10 s of quiet.
    // Other alerts (a latency burn on a busy shared machine, say) are reported, not judged.
    let quietSince: number | undefined;
    await within(120, `${requiredAlerts.join(', ')} quiet for 10s before the attack`, async () => {
      const active = (await prom.alerts()).filter((a) =>
        (requiredAlerts as readonly string[]).includes(a.labels.alertname ?? ''),
      );
      if (active.length > 0) quietSince = undefined;
      else quietSince ??= Date.now();
      return quietSince !== undefined && Date.now() - quietSince >= 10_000 ? true : undefined;
    });
    for (const a of requiredAlerts) firingState.delete(a);
    mark('warm-up quiet', `${requiredAlerts.join(', ')} inactive for 10s with legit traffic only`);

    // The attack: the project's attack generator (npm run attack), half the transactions fraudulent (card
    // testing, account takeover, merchant compromise), bounded by the firing deadline; stopped with SIGINT
    // (its graceful stop, which still writes its report) once the alerts have fired.
    attackStartedAt = new Date();
    const attack = startProcess({
      name: 'attack',
      command: process.execPath,
      args: [
        '--import',
        'tsx',
        path.join(repoRoot, 'scripts', 'attack', 'cli.mts'),
        ...['--target', 'kafka', '--bootstrap', kafka.bootstrap, '--group', 'score-transactions'],
        ...[
          '--rate',
          String(attackRate),
          '--duration',
          String(fireWithin),
          '--fraud-ratio',
          '0.5',
          '--seed',
          '2',
        ],
        ...['--report-dir', path.join(repoRoot, 'reports'), '--quiet'],
      ],
      cwd: repoRoot,
      logDir: workDir,
    });
    mark(
      'attack start',
      `npm run attack: ${attackRate}/s, 50% fraud, at most ${fireWithin}s`,
      attackStartedAt,
    );
    let attackStopped = false;
    const stopAttack = async () => {
      if (attackStopped) return;
      attackStopped = true;
      if (attack.child.exitCode === null && attack.child.signalCode === null) attack.child.kill('SIGINT');
      const timer = setTimeout(() => void attack.kill(), 30_000);
      const code = await attack.exited;
      clearTimeout(timer);
      const sent = attack.tail(200).match(/"sent": (\d+)/)?.[1];
      mark('attack stop', `attack generator exited ${code}${sent ? `, ${sent} transactions sent` : ''}`);
    };
    stops.push(stopAttack);
    void attack.exited.then((code) => {
      if (!attackStopped && code !== 0)
        mark('attack generator ended early', `exit ${code}: ${attack.tail(5)}`);
    });

    const progress = setInterval(() => void printProgress(prom.query), 10_000);
    stops.push(async () => clearInterval(progress));
    try {
      await within(fireWithin, `${requiredAlerts.join(' and ')} firing`, async () =>
        requiredAlerts.every((a) => firingState.get(a)?.firingAt) ? true : undefined,
      );
      for (const alert of requiredAlerts) {
        const receivers = alert === 'FraudRateSpike' ? ['pager', 'chat'] : ['chat'];
        for (const r of receivers) {
          const n = await receiver.waitFor(
            (x) => isDelivery(x, alert, 'firing', r),
            deliverWithin * 1000,
            `${alert} firing delivered to ${r}`,
          );
          mark(`delivered: ${alert} firing -> ${r}`, undefined, n.at);
        }
      }
    } finally {
      await stopAttack();
    }
    const [lag] = await prom.query('sum(kafka_consumergroup_lag{topic="transactions"})').catch(() => []);
    if (lag) mark('consumer lag at attack stop', `${lag.value[1]} records`);

    await within(resolveWithin, `${requiredAlerts.join(' and ')} resolved in Prometheus`, async () =>
      requiredAlerts.every((a) => firingState.get(a)?.resolvedAt) ? true : undefined,
    );
    for (const alert of requiredAlerts) {
      const receivers = alert === 'FraudRateSpike' ? ['pager', 'chat'] : ['chat'];
      for (const r of receivers) {
        const n = await receiver.waitFor(
          (x) => isDelivery(x, alert, 'resolved', r),
          deliverWithin * 1000,
          `${alert} resolved delivered to ${r}`,
        );
        mark(`delivered: ${alert} resolved -> ${r}`, undefined, n.at);
      }
    }
    const wrong = forbiddenAlerts.filter((a) => firingState.has(a));
    if (wrong.length > 0)
      throw new MissedStep(`alerts that must stay silent became active: ${wrong.join(', ')}`);
    mark('silent as expected', forbiddenAlerts.join(', '));
  } catch (error) {
    failure = error instanceof MissedStep ? error.message : `${(error as Error).stack ?? error}`;
    mark('FAILED', failure);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }

  const others = [...firingState.entries()]
    .filter(([name]) => !(requiredAlerts as readonly string[]).includes(name))
    .map(([name, s]) => `${name}${s.firingAt ? ' (fired)' : ' (pending only)'}`);
  console.log('\nTimeline (relative to attack start):');
  timeline.sort((a, b) => a.at.getTime() - b.at.getTime());
  for (const s of timeline)
    console.log(`  ${since(s.at).padStart(9)}  ${s.step}${s.detail ? `  — ${s.detail}` : ''}`);
  console.log(`\nOther alerts active during the drill: ${others.length ? others.join(', ') : 'none'}`);
  console.log(`Alerts on stand-in series (cluster-only inputs): ${adaptedAlerts.join(', ')}`);
  const reportDir = path.join(repoRoot, 'reports');
  mkdirSync(reportDir, { recursive: true });
  const report = path.join(reportDir, `drill-${new Date().toISOString().replaceAll(':', '-')}.json`);
  writeFileSync(
    report,
    JSON.stringify(
      {
        ok: !failure,
        failure,
        options: { timeScale, scorerCount, attackRate, backgroundRate, cpuRequest, warmupSeconds },
        timeline: timeline.map((s) => ({ ...s, sinceAttack: since(s.at) })),
        alerts: Object.fromEntries(firingState),
      },
      null,
      2,
    ),
  );
  console.log(`Report: ${report}`);
  if (failure) console.log(`Logs kept in ${workDir}`);
  else rmSync(workDir, { recursive: true, force: true });
  console.log(failure ? `\nDRILL FAILED: ${failure}` : '\nDRILL PASSED');
  return failure ? 1 : 0;
}

process.exitCode = await main();
