// The Kubernetes side of a rollout, shared by test/rollout.test.ts and scripts/e2e-stack.mts: a real
// kube-apiserver with the Knative Serving CRDs and a `score` Service, the stand-in Knative controller with
// a real scorer process per revision, a real Prometheus scraping those scorers with the cluster's labels,
// a feeder sending synthetic transactions by status.traffic, and the hook's least-privilege kubeconfig.
// MLflow is the caller's (both callers need it before or beside this).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ControlPlane, knativeServingCrds, startControlPlane } from '@fraud/testkit/kube';
import { type RunningPrometheus, startPrometheus } from '@fraud/testkit/prometheus';
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KnativeService } from '../../src/knative.ts';
import { loadPolicy } from '../../src/policy.ts';
import { hookServiceAccountKubeconfig, kubeConfigFrom, packageRoot } from './hook.ts';
import { type StandInController, startStandInController } from './knative-controller.ts';
import { ScorerRevisions } from './scorer-revisions.ts';
import { addScorerJob, scorerTargets, writeTargets } from './scorer-scrape.ts';
import { startTrafficFeeder, type TrafficFeeder } from './traffic-feeder.ts';

export const NS = 'fraud';
export const SERVICE = 'score';

export interface StackOptions {
  /** The MLflow the scorers load models from (the seeded template's MLFLOW_TRACKING_URI). */
  mlflowUrl: string | Promise<string>;
  /** Requests per second the feeder sends over all revisions (default 40). */
  rps?: number;
  /** Every n-th request to each revision is bad input (see traffic-feeder.ts); none by default. */
  badInputEvery?: number;
  envFor?: (revision: string, env: Record<string, string>) => Record<string, string>;
}

export interface RolloutStack {
  dir: string;
  cp: ControlPlane;
  prometheus: RunningPrometheus;
  scorers: ScorerRevisions;
  controller: StandInController;
  feeder: TrafficFeeder;
  /** A kubeconfig holding a token of the hook's ServiceAccount (knative/base/retrain-hook-rbac.yaml). */
  hookKubeconfig: string;
  getService(): Promise<KnativeService>;
  stop(): Promise<void>;
}

/** gate.json's gate with the canary policy overridden (short windows for tests). */
export function writePolicy(dir: string, canary: Record<string, number | boolean>): string {
  const shipped = loadPolicy(path.join(packageRoot, 'gate.json'));
  const file = path.join(dir, 'gate.json');
  writeFileSync(file, JSON.stringify({ gate: shipped.gate, canary: { ...shipped.canary, ...canary } }));
  return file;
}

export async function startRolloutStack(options: StackOptions): Promise<RolloutStack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'retrain-hook-stack-'));
  const targetsFile = path.join(dir, 'scorer-targets.json');
  writeTargets(targetsFile, []);
  const prometheusOptions = { scrapeInterval: '1s' };
  const [cp, prometheus] = await Promise.all([
    knativeServingCrds().then((crds) => startControlPlane({ crds: [crds] })),
    startPrometheus(prometheusOptions),
  ]);
  await addScorerJob(prometheus, prometheusOptions, targetsFile);
  await cp.kubectl(['create', 'namespace', NS]);
  await cp.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: SERVICE, namespace: NS },
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'user-container',
                image: `registry.local/fraud/score@sha256:${'0'.repeat(64)}`,
                // No MODEL_URI: the first revision serves the bundled model, as a first deployment does.
                env: [{ name: 'MLFLOW_TRACKING_URI', value: await options.mlflowUrl }],
              },
            ],
          },
        },
      },
    }),
  );
  const hookKubeconfig = await hookServiceAccountKubeconfig(cp);
  const scorers = new ScorerRevisions({
    dir,
    envFor: options.envFor,
    onChange: (pods) => writeTargets(targetsFile, scorerTargets(pods, NS, SERVICE)),
  });
  const kc = kubeConfigFrom(cp.kubeconfig);
  const controller = startStandInController(kc, NS, SERVICE, scorers);
  const api = kc.makeApiClient(CustomObjectsApi);
  const getService = async () =>
    (await api.getNamespacedCustomObject({
      group: 'serving.knative.dev',
      version: 'v1',
      namespace: NS,
      plural: 'services',
      name: SERVICE,
    })) as KnativeService;
  const feeder = startTrafficFeeder({ routes: () => controller.routes(), rps: options.rps });
  feeder.badInputEvery = options.badInputEvery;
  const first = `${SERVICE}-00001`;
  const deadline = Date.now() + 120_000;
  while ((await getService()).status?.latestReadyRevisionName !== first) {
    if (Date.now() > deadline) {
      const pod = scorers.pod(first);
      throw new Error(
        `the first revision's scorer never became ready (${pod?.lastReason}); log ${pod?.process.logFile}:\n${pod?.process.tail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    dir,
    cp,
    prometheus,
    scorers,
    controller,
    feeder,
    hookKubeconfig,
    getService,
    async stop() {
      await feeder.stop();
      await controller.stop();
      await Promise.all([cp.stop(), prometheus.stop()]);
      // the scorer logs stay for a failure's post-mortem; the model copies go
      rmSync(path.join(dir, 'model-cache'), { recursive: true, force: true });
    },
  };
}
