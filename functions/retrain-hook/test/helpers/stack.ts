// The Kubernetes side of a rollout, shared by test/rollout.test.ts, bench/rollout-times.ts and
// scripts/e2e-stack.mts: the project's real node (testkit startCluster: kubelet, containerd, kube-proxy) with
// the real Knative Serving 1.15 (controller, webhook, autoscaler, activator) and CoreDNS, the repository's
// `score` Knative Service (knative/base) on the local score image at min-scale 1, a real Prometheus scraping
// the score pods with the fraud-score PodMonitor's relabelling, a feeder sending synthetic transactions to
// each revision's Kubernetes Service in the proportions of the real status.traffic, and the hook's
// least-privilege kubeconfig. MLflow is the caller's, started once the node's bridge exists (pods reach the
// host only at its address). One node per machine: callers hold /tmp/fraud-node-dev.lock.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ensureImages,
  importImages,
  knativeConfigDeployment,
  knativeImageRefs,
  knativeImages,
} from '@fraud/testkit/install/images';
import { type Cluster, dnsServiceIp, nodeIp, startCluster } from '@fraud/testkit/node/cluster';
import { type RunningPrometheus, startPrometheus } from '@fraud/testkit/prometheus';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { corednsManifest } from '../../../../scripts/cluster/lib/live-addons.mts';
import { installKnativeServing } from '../../../../scripts/cluster/lib/live-knative.mts';
import type { KnativeService } from '../../src/knative.ts';
import { loadPolicy } from '../../src/policy.ts';
import { hookServiceAccountKubeconfig, kubeConfigFrom, packageRoot } from './hook.ts';
import { type PodScrape, podScrapeConfigs, startPodScrape } from './pod-scrape.ts';
import { type RevisionRoutes, startRevisionRoutes } from './revision-routes.ts';
import { startTrafficFeeder, type TrafficFeeder } from './traffic-feeder.ts';

export const NS = 'fraud';
export const SERVICE = 'score';
const repoRoot = path.join(packageRoot, '..', '..');

export interface StackOptions {
  /**
   * Starts the MLflow the score pods load models from, listening on `host` (the node's bridge address),
   * once the node is up; resolves to its URL (the template's MLFLOW_TRACKING_URI).
   */
  mlflow: (host: string) => Promise<string>;
  /** Requests per second the feeder sends over all revisions (default 40). */
  rps?: number;
  /** Every n-th request to each revision is bad input (see traffic-feeder.ts); none by default. */
  badInputEvery?: number;
  /**
   * Extra env of the score container, in every revision (e2e-stack.mts: the decision sink); a function is
   * called once `mlflow` has resolved.
   */
  scoreEnv?: Record<string, string> | (() => Record<string, string>);
  /** Knative's progress deadline for score revisions (how long pods may take to turn Ready); default 40s. */
  progressDeadline?: string;
}

export interface RolloutStack {
  dir: string;
  cluster: Cluster;
  prometheus: RunningPrometheus;
  routes: RevisionRoutes;
  feeder: TrafficFeeder;
  pods: PodScrape;
  mlflowUrl: string;
  /** A kubeconfig holding a token of the hook's ServiceAccount (knative/base/retrain-hook-rbac.yaml). */
  hookKubeconfig: string;
  getService(): Promise<KnativeService>;
  /** Pods of a revision, as `kubectl get pods` reports them (phase, ready, restarts, waiting reason). */
  podsOf(revision: string): Promise<PodSummary[]>;
  stop(): Promise<void>;
}

export interface PodSummary {
  name: string;
  phase: string;
  ready: boolean;
  deleting: boolean;
}

/** gate.json's gate with the canary policy overridden (short windows for tests). */
export function writePolicy(dir: string, canary: Record<string, number | boolean>): string {
  const shipped = loadPolicy(path.join(packageRoot, 'gate.json'));
  const file = path.join(dir, `gate-${Math.random().toString(36).slice(2, 8)}.json`);
  writeFileSync(file, JSON.stringify({ gate: shipped.gate, canary: { ...shipped.canary, ...canary } }));
  return file;
}

interface ServiceDoc {
  metadata: Record<string, unknown>;
  spec: {
    template: {
      metadata: { annotations?: Record<string, string>; labels?: Record<string, string> };
      spec: {
        containers: {
          image: string;
          env?: { name: string; value?: string }[];
          resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
        }[];
      };
    };
  };
}

/**
 * knative/base/score-service.yaml as the cluster runs it (probes, security context, /tmp emptyDir, service
 * account), with what this node needs changed: the local image, one pod per revision (2 shared CPUs), a
 * small CPU request, MLflow at the node's address, no decision sink (no Knative Eventing here), and a
 * progress deadline short enough for a test to see a revision that never turns Ready fail.
 */
export function scoreServiceForNode(
  image: string,
  mlflowUrl: string,
  extraEnv: Record<string, string>,
  progressDeadline: string,
): ServiceDoc {
  const file = path.join(repoRoot, 'knative', 'base', 'score-service.yaml');
  const doc = parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as ServiceDoc & { kind: string })
    .find((d) => d?.kind === 'Service');
  if (!doc) throw new Error(`${file} has no Service`);
  const template = doc.spec.template;
  template.metadata.annotations = {
    ...template.metadata.annotations,
    'autoscaling.knative.dev/min-scale': '1',
    'autoscaling.knative.dev/max-scale': '1',
    'autoscaling.knative.dev/initial-scale': '1',
    'serving.knative.dev/progress-deadline': progressDeadline,
  };
  delete template.metadata.annotations['autoscaling.knative.dev/scale-down-delay'];
  const container = template.spec.containers[0];
  if (!container) throw new Error(`${file}: the score Service has no container`);
  container.image = image;
  const replaced = new Set(['MLFLOW_TRACKING_URI', 'DECISION_SINK_URL', 'DECISION_SINK_DELIVERY']);
  container.env = [
    ...(container.env ?? []).filter((e) => !replaced.has(e.name) && !(e.name in extraEnv)),
    { name: 'MLFLOW_TRACKING_URI', value: mlflowUrl },
    { name: 'LOG_LEVEL', value: 'warn' },
    ...Object.entries(extraEnv).map(([name, value]) => ({ name, value })),
  ].filter((e, i, all) => all.findIndex((x) => x.name === e.name) === i);
  container.resources = {
    requests: { cpu: '50m', memory: '256Mi' },
    limits: container.resources?.limits ?? {},
  };
  return doc;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startRolloutStack(options: StackOptions): Promise<RolloutStack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'retrain-hook-stack-'));
  const images = await ensureImages({
    only: [...knativeImages, 'coredns', 'score'],
  });
  const cluster = await startCluster();
  const stops: (() => Promise<void>)[] = [() => cluster.stop()];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    // MLflow and Prometheus start while the images import and Knative installs.
    const mlflowStarted = options.mlflow(nodeIp);
    mlflowStarted.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    const pods = startPodScrape(kubeConfigFrom(cluster.kubeconfig), NS, path.join(dir, 'pods.json'));
    stops.push(() => pods.stop());
    const prometheusStarted = startPrometheus({
      scrapeInterval: '1s',
      extraScrapeConfigs: podScrapeConfigs(repoRoot, pods.file),
    });
    stops.push(async () => (await prometheusStarted.catch(() => undefined))?.stop());
    await importImages({
      ctr: cluster.binaries.ctr,
      address: cluster.containerdAddress,
      images: Object.values(images),
    });
    // The activator finds the autoscaler by its Service name: cluster DNS is Knative's need, not the scorer's.
    await cluster.kubectl(['apply', '-f', '-'], corednsManifest(images.coredns.ref, dnsServiceIp));
    await cluster.kubectl(['rollout', 'status', '-n', 'kube-system', 'deployment/coredns', '--timeout=180s']);
    await installKnativeServing(cluster.kubectl, {
      koRefs: knativeImageRefs(images),
      configDeployment: knativeConfigDeployment(images['knative-queue']),
    });
    const prometheus = await prometheusStarted;
    const mlflowUrl = await mlflowStarted;

    for (const file of ['namespace.yaml', 'score-serviceaccount.yaml'])
      await cluster.kubectl(['apply', '-f', path.join(repoRoot, 'knative', 'base', file)]);
    const hookKubeconfig = await hookServiceAccountKubeconfig({
      kubectl: cluster.kubectl,
      server: cluster.server,
      caCert: readFileSync(path.join(cluster.dataDir, 'pki', 'ca.crt'), 'utf8'),
      dataDir: dir,
    });
    const service = scoreServiceForNode(
      images.score.ref,
      mlflowUrl,
      typeof options.scoreEnv === 'function' ? options.scoreEnv() : (options.scoreEnv ?? {}),
      options.progressDeadline ?? '40s',
    );
    // The webhook may need a moment after its Deployment is Ready before it admits.
    for (let attempt = 1; ; attempt++) {
      const applied = await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(service)).then(
        () => true,
        (error: Error) => {
          if (attempt >= 30) throw error;
          return false;
        },
      );
      if (applied) break;
      await sleep(2000);
    }

    const kc = kubeConfigFrom(cluster.kubeconfig);
    const api = kc.makeApiClient(CustomObjectsApi);
    const getService = async () =>
      (await api.getNamespacedCustomObject({
        group: 'serving.knative.dev',
        version: 'v1',
        namespace: NS,
        plural: 'services',
        name: SERVICE,
      })) as KnativeService;
    const routes = startRevisionRoutes(kc, NS, getService);
    stops.push(() => routes.stop());
    const feeder = startTrafficFeeder({ routes: () => routes.routes(), rps: options.rps });
    feeder.badInputEvery = options.badInputEvery;
    stops.push(() => feeder.stop());

    const podsOf = async (revision: string): Promise<PodSummary[]> => {
      const list = JSON.parse(
        await cluster.kubectl([
          'get',
          'pods',
          '-n',
          NS,
          '-l',
          `serving.knative.dev/revision=${revision}`,
          '-o',
          'json',
        ]),
      ) as {
        items: {
          metadata: { name: string; deletionTimestamp?: string };
          status: { phase?: string; conditions?: { type: string; status: string }[] };
        }[];
      };
      return list.items.map((p) => ({
        name: p.metadata.name,
        phase: p.status.phase ?? '',
        ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        deleting: Boolean(p.metadata.deletionTimestamp),
      }));
    };

    const first = `${SERVICE}-00001`;
    const deadline = Date.now() + 300_000;
    for (;;) {
      const status = (await getService().catch(() => undefined))?.status;
      if (status?.latestReadyRevisionName === first && routes.routes().length > 0) break;
      if (Date.now() > deadline) {
        const described = await cluster
          .kubectl(['describe', 'pods', '-n', NS])
          .catch((e: Error) => e.message);
        throw new Error(
          `the first score revision never became ready and routed; status ${JSON.stringify(status)}\n${described.slice(-4000)}`,
        );
      }
      await sleep(1000);
    }
    return {
      dir,
      cluster,
      prometheus,
      routes,
      feeder,
      pods,
      mlflowUrl,
      hookKubeconfig,
      getService,
      podsOf,
      async stop() {
        await stopAll();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
