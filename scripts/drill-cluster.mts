// The drill on a real node (`npm run drill -- --cluster [--overlay cpu|requests] [--for 30s] [--attack-rate N]`):
// a real single-node cluster (testkit/node), Knative Serving 1.15 with its real controllers and both
// autoscalers, the project's knative/overlays/<overlay> applied with local image refs, 4 scorer pods, the
// attack generator → Kafka → the KafkaSource stand-in → the revision's Service, Prometheus scraping the
// kubelet's cAdvisor, kube-state-metrics, the Knative autoscaler and the pods (PodMonitor relabelling),
// the unmodified alert expressions (only `for:` shortened unless --for 5m), Alertmanager → webhook receiver.
//
// What differs from a cluster with Knative Eventing and an ingress, and why:
// - no Knative ingress (no Envoy build is reachable): the Route never turns Ready, load goes to the revision's
//   private Service (kube-proxy → the pods' queue-proxies), so traffic splitting is not exercised;
// - KafkaSource/KafkaSink are not installed (eventing-kafka-broker is not served by the Go proxy): the
//   local-dispatcher stand-ins consume and publish, and a selector-less Service `kafka-sink-ingress` in
//   knative-eventing points the scorer's unchanged DECISION_SINK_URL at the stand-in on the node's bridge;
// - the scorer's CPU request is set to --cpu-request (default 40m) instead of 1 CPU: the node has 2 CPUs, and
//   6 pods plus Knative, CoreDNS, metrics-server and kube-state-metrics must fit on it. With 100m the first
//   run measured 0.35 cores used by 6 pods (score + queue-proxy, ~140 decisions/s, the host-side dispatcher
//   being the limit): 0.53 of the requests (100m + queue-proxy's 25m), below HighCPU's 0.8. 40m + 25m per pod
//   puts the same load at ~0.9.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAlertmanager } from '@fraud/testkit/alertmanager';
import { startProcess } from '@fraud/testkit/process';
import { startPrometheus } from '@fraud/testkit/prometheus';
import { type ReceivedNotification, startWebhookReceiver } from '@fraud/testkit/webhook-receiver';
import { localAlertmanagerConfig } from '../monitoring/src/alertmanager-config.ts';
import { loadPrometheusRules } from '../monitoring/src/rules.ts';
import { startLivePlatform } from './cluster/lib/live-platform.mts';
import { liveScrapeConfigs, podTargets } from './cluster/lib/live-scrape.mts';
import { MissedStep, within } from './drill/steps.mts';
import { repoRoot } from './lib/repo.mts';

export const clusterAlerts = ['FraudScoringAtMaxScale', 'FraudScoringHighCPU'] as const;

export interface ClusterDrillOptions {
  overlay: 'cpu' | 'requests';
  /** The alerts' `for:` (the expressions stay as written); '5m' is the real duration. */
  alertFor: string;
  attackRate: number;
  /**
   * The attack holds new transactions back while the stand-in dispatcher's lag is above this: the pods stay
   * saturated (the dispatcher always has work) but a long run cannot queue millions that keep the scorer at
   * 6 pods for an hour after the attack stops (the first 5-minute run queued 1.9 M).
   */
  maxLag: number;
  /** Scorer CPU request, e.g. '100m'. */
  cpuRequest: string;
  /** Give up on a phase after this many seconds. */
  phaseTimeout: number;
}

interface Step {
  at: string;
  step: string;
  detail?: string;
}

export interface ClusterDrillReport {
  ok: boolean;
  failure?: string;
  overlay: string;
  options: ClusterDrillOptions;
  node: { name: string; kubelet: string; containerd: string; runc: string; kubernetes: string };
  pods: { at: string; ready: number; total: number }[];
  maxReadyPods: number;
  alerts: Record<
    string,
    { firing?: string; delivered?: string; resolved?: string; resolvedDelivered?: string }
  >;
  events_sent: number;
  /** Transactions the attack did not send because the dispatcher's lag was above --max-lag. */
  events_held_back: number;
  decisions: number;
  timeline: Step[];
  skipped: string[];
}

/** The platform's rules, unmodified except for the `for:` of the alerts under test. */
function drillRuleGroups(alertFor: string): { groups: unknown[] }[] {
  return loadPrometheusRules().map((cr) => ({
    groups: cr.spec.groups.map((g) => ({
      ...g,
      rules: g.rules.map((r) =>
        r.alert && (clusterAlerts as readonly string[]).includes(r.alert) ? { ...r, for: alertFor } : r,
      ),
    })),
  }));
}

export async function runClusterDrill(options: ClusterDrillOptions): Promise<ClusterDrillReport> {
  const timeline: Step[] = [];
  const mark = (step: string, detail?: string) => {
    const at = new Date().toISOString();
    timeline.push({ at, step, detail });
    console.log(`${at}  ${step}${detail ? `  (${detail})` : ''}`);
  };
  const report: ClusterDrillReport = {
    ok: false,
    overlay: options.overlay,
    options,
    node: { name: '', kubelet: '', containerd: '', runc: '', kubernetes: '' },
    pods: [],
    maxReadyPods: 0,
    alerts: Object.fromEntries(clusterAlerts.map((a) => [a, {}])),
    events_sent: 0,
    events_held_back: 0,
    decisions: 0,
    timeline,
    skipped: [],
  };
  const stops: (() => Promise<void>)[] = [];
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'fraud-drill-cluster-'));
  try {
    mark(
      'drill start',
      `overlay ${options.overlay}, alerts for: ${options.alertFor}, attack ${options.attackRate}/s`,
    );
    const platform = await startLivePlatform({
      overlay: options.overlay,
      cpuRequest: options.cpuRequest,
      workDir,
      readyTimeout: options.phaseTimeout,
      mark,
      stops,
    });
    const { cluster } = platform;
    report.node = { name: cluster.nodeName, ...cluster.versions };
    const samplePods = async () => {
      const pods = await platform.scorerPods();
      const counts = { ready: pods.filter((p) => p.ready).length, total: pods.length };
      report.pods.push({ at: new Date().toISOString(), ...counts });
      report.maxReadyPods = Math.max(report.maxReadyPods, counts.ready);
      return counts;
    };
    await samplePods();
    const sampler = setInterval(() => void samplePods().catch(() => undefined), 2000);
    stops.push(async () => clearInterval(sampler));
    await platform.startDispatcher({ ordering: 'unordered' });

    const receiver = await startWebhookReceiver();
    stops.push(() => receiver.stop());
    const am = await startAlertmanager(localAlertmanagerConfig({ receiverUrl: receiver.url, timeScale: 10 }));
    stops.push(() => am.stop());
    // Pod discovery for Prometheus (Debian's build has no kubernetes_sd): the pod list as file_sd targets.
    const podsFile = path.join(workDir, 'pods.json');
    const discover = async () => {
      const pods = JSON.parse(await cluster.kubectl(['get', 'pods', '-A', '-o', 'json'])) as {
        items: Parameters<typeof podTargets>[0];
      };
      writeFileSync(`${podsFile}.tmp`, JSON.stringify(podTargets(pods.items)));
      renameSync(`${podsFile}.tmp`, podsFile);
    };
    await discover();
    const discovery = setInterval(() => void discover().catch(() => undefined), 3000);
    stops.push(async () => clearInterval(discovery));
    const pki = path.join(cluster.dataDir, 'pki');
    const prom = await startPrometheus({
      rules: drillRuleGroups(options.alertFor),
      scrapeInterval: '5s',
      evaluationInterval: '5s',
      extraScrapeConfigs: liveScrapeConfigs({
        repoRoot,
        podsFile,
        api: {
          server: cluster.server,
          caFile: `${pki}/ca.crt`,
          certFile: `${pki}/admin.crt`,
          keyFile: `${pki}/admin.key`,
        },
        kubelet: `${cluster.nodeIp}:${cluster.kubeletPort}`,
        interval: '5s',
      }),
      alertmanagerUrl: am.url,
    });
    stops.push(() => prom.stop());
    mark('Prometheus and Alertmanager ready', `${prom.url}, ${am.url}`);
    await within(options.phaseTimeout, 'scorer CPU ratio series present', async () =>
      (await prom.query('fraud:scorer_cpu_usage:ratio_of_request')).length > 0 ? true : undefined,
    );

    const attack = startProcess({
      name: 'attack',
      command: process.execPath,
      args: [
        '--import',
        'tsx',
        path.join(repoRoot, 'scripts', 'attack', 'cli.mts'),
        '--target',
        'kafka',
        '--bootstrap',
        platform.kafka.bootstrap,
        '--group',
        'score-transactions',
        '--rate',
        String(options.attackRate),
        '--duration',
        String(options.phaseTimeout * 3),
        '--max-lag',
        String(options.maxLag),
        '--fraud-ratio',
        '0.5',
        '--seed',
        '2',
        '--report-dir',
        workDir,
        '--quiet',
      ],
      cwd: repoRoot,
      logDir: workDir,
    });
    mark('attack start', `${options.attackRate}/s`);
    let attackStopped = false;
    const stopAttack = async () => {
      if (attackStopped) return;
      attackStopped = true;
      if (attack.child.exitCode === null) attack.child.kill('SIGINT');
      const timer = setTimeout(() => void attack.kill(), 30_000);
      await attack.exited;
      clearTimeout(timer);
      const summary = attack.tail(200);
      report.events_sent = Number(summary.match(/"sent": (\d+)/)?.[1] ?? 0);
      report.events_held_back = Number(summary.match(/"heldBackForLag": (\d+)/)?.[1] ?? 0);
      mark(
        'attack stop',
        `${report.events_sent} transactions sent, ${report.events_held_back} held back for lag > ${options.maxLag}`,
      );
    };
    stops.push(stopAttack);

    const alertState = async () =>
      new Map((await prom.alerts()).map((a) => [a.labels.alertname ?? '', a.state]));
    const delivered = (alert: string, status: 'firing' | 'resolved') => (n: ReceivedNotification) =>
      n.path === '/chat' &&
      (n.slack?.attachments[0]?.title ?? '').startsWith(`[${status.toUpperCase()}`) &&
      (n.slack?.attachments[0]?.title ?? '').includes(` ${alert}`);
    try {
      await within(options.phaseTimeout, 'the autoscaler takes the scorer to 6 pods', async () =>
        (await samplePods()).ready >= 6 ? true : undefined,
      );
      mark('6 scorer pods Ready');
      await within(options.phaseTimeout + 300, `${clusterAlerts.join(' and ')} firing`, async () => {
        const state = await alertState();
        for (const a of clusterAlerts) {
          if (state.get(a) === 'firing' && !report.alerts[a]?.firing) {
            report.alerts[a] = { ...report.alerts[a], firing: new Date().toISOString() };
            mark(`Prometheus: ${a} firing`);
          }
        }
        return clusterAlerts.every((a) => report.alerts[a]?.firing) ? true : undefined;
      });
      for (const a of clusterAlerts) {
        const n = await receiver.waitFor(delivered(a, 'firing'), 120_000, `${a} firing delivered`);
        report.alerts[a] = { ...report.alerts[a], delivered: n.at.toISOString() };
        mark(`delivered: ${a} firing`);
      }
    } finally {
      await stopAttack();
    }
    await within(options.phaseTimeout + 600, 'back to 4 scorer pods', async () => {
      const { ready, total } = await samplePods();
      return ready === 4 && total === 4 ? true : undefined;
    });
    mark('back to 4 scorer pods');
    await within(options.phaseTimeout + 300, `${clusterAlerts.join(' and ')} resolved`, async () => {
      const state = await alertState();
      for (const a of clusterAlerts) {
        if (!state.has(a) && !report.alerts[a]?.resolved) {
          report.alerts[a] = { ...report.alerts[a], resolved: new Date().toISOString() };
          mark(`Prometheus: ${a} resolved`);
        }
      }
      return clusterAlerts.every((a) => report.alerts[a]?.resolved) ? true : undefined;
    });
    for (const a of clusterAlerts) {
      const n = await receiver.waitFor(delivered(a, 'resolved'), 120_000, `${a} resolved delivered`);
      report.alerts[a] = { ...report.alerts[a], resolvedDelivered: n.at.toISOString() };
      mark(`delivered: ${a} resolved`);
    }
    const [decisions] = await prom.query('sum(fraud_scorer_decisions_total)');
    report.decisions = Number(decisions?.value[1] ?? 0);
    if (report.maxReadyPods > 6)
      throw new MissedStep(`the scorer went above 6 pods (${report.maxReadyPods})`);
    report.ok = true;
  } catch (error) {
    report.failure = error instanceof MissedStep ? error.message : `${(error as Error).stack ?? error}`;
    mark('FAILED', report.failure);
  } finally {
    for (const stop of stops.reverse()) await stop().catch((e: Error) => console.error(`stop: ${e.message}`));
  }
  const reportDir = path.join(repoRoot, 'reports');
  mkdirSync(reportDir, { recursive: true });
  const file = path.join(reportDir, `drill-cluster-${new Date().toISOString().replaceAll(':', '-')}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  console.log(`Report: ${file}`);
  if (report.ok) rmSync(workDir, { recursive: true, force: true });
  else console.log(`Logs kept in ${workDir}`);
  return report;
}

const usage = `usage: npm run drill -- --cluster [--overlay cpu|requests|both] [--for 30s] [--attack-rate 1500]
                                 [--max-lag 20000] [--cpu-request 40m] [--phase-timeout 600]
  --overlay        which knative/overlays/<name> to drill (default both, one after the other)
  --for            the alerts' for: (default 30s; 5m is the real duration)
  --attack-rate    transactions per second from the attack generator (default 1500)
  --max-lag        the attack pauses while the dispatcher's consumer lag is above this (default 20000)
  --cpu-request    the scorer's CPU request on the 2-CPU node (default 40m)
  --phase-timeout  seconds each phase may take (default 600)`;

/** `npm run drill -- --cluster ...`: returns the exit code (0 passed, 1 a step missed, 2 usage). */
export async function clusterDrillCli(argv: Record<string, unknown> & { _: unknown[] }): Promise<number> {
  if (argv.help || argv.h) {
    console.log(usage);
    return 0;
  }
  const known = ['cluster', 'overlay', 'for', 'attack-rate', 'max-lag', 'cpu-request', 'phase-timeout'];
  const unknown = Object.keys(argv).filter((k) => k !== '_' && !known.includes(k));
  const fail = (message: string) => {
    console.error(`drill --cluster: ${message}\n${usage}`);
    return 2;
  };
  if (unknown.length > 0 || argv._.length > 0)
    return fail(`unknown option(s) ${[...unknown, ...argv._].join(', ')}`);
  const overlay = String(argv.overlay ?? 'both');
  if (!['cpu', 'requests', 'both'].includes(overlay))
    return fail(`--overlay must be cpu, requests or both, got ${overlay}`);
  const alertFor = String(argv.for ?? '30s');
  if (!/^\d+[smh]$/.test(alertFor)) return fail(`--for must be a duration like 30s or 5m, got ${alertFor}`);
  const attackRate = Number(argv['attack-rate'] ?? 1500);
  if (!Number.isFinite(attackRate) || attackRate < 10 || attackRate > 20_000)
    return fail(`--attack-rate must be a number from 10 to 20000, got ${String(argv['attack-rate'])}`);
  const maxLag = Number(argv['max-lag'] ?? 20_000);
  if (!Number.isInteger(maxLag) || maxLag < 1)
    return fail(`--max-lag must be a whole number >= 1, got ${String(argv['max-lag'])}`);
  const cpuRequest = String(argv['cpu-request'] ?? '40m');
  if (!/^\d+m$/.test(cpuRequest))
    return fail(`--cpu-request must be millicores like 100m, got ${cpuRequest}`);
  const phaseTimeout = Number(argv['phase-timeout'] ?? 600);
  if (!Number.isFinite(phaseTimeout) || phaseTimeout < 30)
    return fail('--phase-timeout must be a number >= 30');
  let ok = true;
  for (const o of overlay === 'both' ? (['cpu', 'requests'] as const) : [overlay as 'cpu' | 'requests']) {
    const report = await runClusterDrill({
      overlay: o,
      alertFor,
      attackRate,
      maxLag,
      cpuRequest,
      phaseTimeout,
    });
    console.log(
      report.ok ? `\nDRILL (cluster, ${o}) PASSED` : `\nDRILL (cluster, ${o}) FAILED: ${report.failure}`,
    );
    ok &&= report.ok;
  }
  return ok ? 0 : 1;
}
