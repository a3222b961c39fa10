// The scoring platform on the real node, as the drill and the live fault tests need it: the node, CoreDNS,
// metrics-server, kube-state-metrics, Knative Serving 1.15, a real Kafka broker on this machine, the KafkaSink
// stand-in on the node's bridge (behind the Service name the scorer's DECISION_SINK_URL uses), and the
// project's knative/overlays/<overlay> applied with only image refs and the scorer's CPU request changed,
// until its first revision has `minReady` Ready pods. The KafkaSource stand-in is started by the caller
// (startDispatcher below), once it knows when its traffic may begin.
import path from 'node:path';
import {
  ensureImages,
  type ImageName,
  importImages,
  knativeConfigDeployment,
  knativeImageRefs,
  type LocalImage,
} from '@fraud/testkit/install/images';
import { type KafkaService, startKafka } from '@fraud/testkit/kafka';
import { type Cluster, dnsServiceIp, startCluster } from '@fraud/testkit/node/cluster';
import { parseAllDocuments, stringify } from 'yaml';
import { repoRoot } from '../../lib/repo.mts';
import { type LocalService, startDispatcher, startKafkaSinkBridge } from '../../local/dispatcher.mts';
import { corednsManifest, kubeStateMetricsManifest, metricsServerManifest } from './live-addons.mts';
import { installKnativeServing } from './live-knative.mts';

export const scorerNamespace = 'fraud';
/** The port of the KafkaSink stand-in on the node's bridge address. */
const bridgePort = 18090;

export interface LivePlatformOptions {
  overlay: 'cpu' | 'requests';
  /** The scorer's CPU request on the 2-CPU node, e.g. '40m'. */
  cpuRequest: string;
  /** Where the host-side processes write their logs. */
  workDir: string;
  /** Ready scorer pods to wait for (the overlays' min-scale is 4). */
  minReady?: number;
  /** How long the first revision may take to get there, in seconds (default 600). */
  readyTimeout?: number;
  /** Partitions of the local `transactions` topic (default 12). */
  partitions?: number;
  /** Called at each milestone, for a timeline. */
  mark?: (step: string, detail?: string) => void;
  /** Each started part's stop, pushed as soon as it runs, so a failure half-way still cleans up. */
  stops: (() => Promise<void>)[];
}

export interface ScorerPod {
  name: string;
  ip: string;
  ready: boolean;
  /** containerd's id of the scorer's own container (not the queue-proxy). */
  containerId?: string;
  restarts: number;
}

export interface LivePlatform {
  cluster: Cluster;
  images: Record<ImageName, LocalImage>;
  kafka: KafkaService;
  /** The first revision of the `score` Service and its private (pods, through queue-proxy) ClusterIP. */
  revision: string;
  privateUrl: string;
  /** The live (not terminating) scorer pods. */
  scorerPods(): Promise<ScorerPod[]>;
  /** The KafkaSource stand-in: `transactions` → the revision's private Service. */
  startDispatcher(options?: { ordering?: 'ordered' | 'unordered' }): Promise<LocalService>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  status: {
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; containerID?: string; restartCount: number }[];
  };
}

export async function scorerPods(cluster: Cluster): Promise<ScorerPod[]> {
  const json = JSON.parse(
    await cluster.kubectl([
      'get',
      'pods',
      '-n',
      scorerNamespace,
      '-l',
      'serving.knative.dev/service=score',
      '-o',
      'json',
    ]),
  ) as { items: PodJson[] };
  return json.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => {
      const app = p.status.containerStatuses?.find((c) => c.name !== 'queue-proxy');
      return {
        name: p.metadata.name,
        ip: p.status.podIP ?? '',
        ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        containerId: app?.containerID?.replace(/^containerd:\/\//, ''),
        restarts: app?.restartCount ?? 0,
      };
    });
}

export async function startLivePlatform(options: LivePlatformOptions): Promise<LivePlatform> {
  const mark = options.mark ?? (() => undefined);
  const { stops, workDir } = options;
  const images = await ensureImages();
  mark(
    'images ready',
    Object.values(images)
      .map((i) => i.ref)
      .join(', '),
  );
  const cluster = await startCluster();
  stops.push(() => cluster.stop());
  mark(
    'node Ready',
    `${cluster.nodeName}: kubelet ${cluster.versions.kubelet}, containerd ${cluster.versions.containerd}`,
  );
  await importImages({
    ctr: cluster.binaries.ctr,
    address: cluster.containerdAddress,
    images: Object.values(images),
  });
  mark('images imported into containerd');

  await cluster.kubectl(['apply', '-f', '-'], corednsManifest(images.coredns.ref, dnsServiceIp));
  await cluster.kubectl(['apply', '-f', '-'], metricsServerManifest(images['metrics-server'].ref));
  await cluster.kubectl(['apply', '-f', '-'], kubeStateMetricsManifest(images['kube-state-metrics'].ref));
  for (const d of ['coredns', 'metrics-server', 'kube-state-metrics'])
    await cluster.kubectl(['rollout', 'status', '-n', 'kube-system', `deployment/${d}`, '--timeout=180s']);
  mark('add-ons ready', 'CoreDNS, metrics-server, kube-state-metrics');
  await installKnativeServing(cluster.kubectl, {
    koRefs: knativeImageRefs(images),
    configDeployment: knativeConfigDeployment(images['knative-queue']),
  });
  mark('Knative Serving ready', 'controller, webhook, autoscaler, activator, autoscaler-hpa');

  const kafka = await startKafka({
    topics: [
      { topic: 'transactions', partitions: options.partitions ?? 12 },
      { topic: 'decisions', partitions: 1 },
      { topic: 'transactions-dlq', partitions: 1 },
    ],
  });
  stops.push(() => kafka.stop());
  // The scorer's DECISION_SINK_URL names kafka-sink-ingress.knative-eventing: a selector-less Service there
  // points at the KafkaSink stand-in on the node's bridge address.
  const bridge = await startKafkaSinkBridge({
    bootstrap: kafka.bootstrap,
    port: bridgePort,
    host: cluster.nodeIp,
    logDir: workDir,
  });
  stops.push(() => bridge.stop());
  await cluster.kubectl(['apply', '-f', '-'], kafkaSinkIngress(cluster.nodeIp));

  const rendered = await cluster.kubectl([
    'kustomize',
    path.join(repoRoot, 'knative', 'overlays', options.overlay),
  ]);
  const { docs, skipped } = renderOverlay(
    rendered,
    { score: images.score.ref, retrainHook: images['retrain-hook'].ref },
    options.cpuRequest,
  );
  await cluster.kubectl(['apply', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));
  mark(`knative/overlays/${options.overlay} applied`, `skipped: ${skipped.join('; ')}`);

  const minReady = options.minReady ?? 4;
  const deadline = Date.now() + (options.readyTimeout ?? 600) * 1000;
  while ((await scorerPods(cluster).catch(() => [])).filter((p) => p.ready).length < minReady) {
    if (Date.now() > deadline)
      throw new Error(`${minReady} scorer pods Ready: not within ${options.readyTimeout ?? 600}s`);
    await sleep(1000);
  }
  const revision = await cluster.kubectl([
    'get',
    'revision',
    '-n',
    scorerNamespace,
    '-l',
    'serving.knative.dev/service=score',
    '-o',
    'jsonpath={.items[0].metadata.name}',
  ]);
  mark(`${minReady} scorer pods Ready`, `revision ${revision}`);
  const privateIp = await cluster.kubectl([
    'get',
    'service',
    '-n',
    scorerNamespace,
    `${revision}-private`,
    '-o',
    'jsonpath={.spec.clusterIP}',
  ]);
  const privateUrl = `http://${privateIp}/`;

  return {
    cluster,
    images,
    kafka,
    revision,
    privateUrl,
    scorerPods: () => scorerPods(cluster),
    async startDispatcher(dispatch = {}) {
      const dispatcher = await startDispatcher({
        bootstrap: kafka.bootstrap,
        sinkUrl: privateUrl,
        group: 'score-transactions',
        ordering: dispatch.ordering ?? 'unordered',
        initialOffset: 'earliest',
        logDir: workDir,
      });
      stops.push(() => dispatcher.stop());
      return dispatcher;
    },
  };
}

/** The overlay as users apply it, with only image refs (and the scorer's CPU request) changed. */
export function renderOverlay(
  rendered: string,
  images: { score: string; retrainHook: string },
  cpuRequest: string,
): { docs: Record<string, unknown>[]; skipped: string[] } {
  const skipped: string[] = [];
  const docs: Record<string, unknown>[] = [];
  for (const doc of parseAllDocuments(rendered)) {
    const obj = doc.toJS() as {
      apiVersion: string;
      kind: string;
      metadata: { name: string };
      spec?: {
        template?: {
          spec?: { containers?: { image: string; resources?: { requests?: Record<string, string> } }[] };
        };
      };
    };
    if (!obj) continue;
    const id = `${obj.kind}/${obj.metadata.name}`;
    if (
      obj.apiVersion.startsWith('sources.knative.dev') ||
      obj.apiVersion.startsWith('eventing.knative.dev')
    ) {
      skipped.push(`${id} (Knative Eventing is not installed: the local-dispatcher stands in)`);
      continue;
    }
    if (
      obj.kind === 'Service' &&
      obj.apiVersion.startsWith('serving.knative.dev') &&
      obj.metadata.name === 'retrain-hook'
    ) {
      skipped.push(`${id} (not part of the drill; MLflow and Airflow are not on the node)`);
      continue;
    }
    for (const c of obj.spec?.template?.spec?.containers ?? []) {
      if (c.image.includes('/fraud/score:')) {
        c.image = images.score;
        c.resources = {
          ...c.resources,
          requests: { ...c.resources?.requests, cpu: cpuRequest, memory: '256Mi' },
        };
      }
      if (c.image.includes('/fraud/retrain-hook:')) c.image = images.retrainHook;
    }
    docs.push(obj as Record<string, unknown>);
  }
  return { docs, skipped };
}

function kafkaSinkIngress(nodeIp: string): string {
  return `apiVersion: v1
kind: Namespace
metadata: { name: knative-eventing }
---
apiVersion: v1
kind: Service
metadata: { name: kafka-sink-ingress, namespace: knative-eventing }
spec:
  ports: [{ name: http, port: 80, targetPort: ${bridgePort} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kafka-sink-ingress-host
  namespace: knative-eventing
  labels: { kubernetes.io/service-name: kafka-sink-ingress }
addressType: IPv4
ports: [{ name: http, port: ${bridgePort}, protocol: TCP }]
endpoints: [{ addresses: ["${nodeIp}"] }]
`;
}
