// The platform's components in install order: what each applies, what it waits for, and how it is removed.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../lib/repo.mts';
import { UsageError } from './cli.mts';
import type { Kubectl } from './kubectl.mts';
import { type ObjectRef, objectsOf, renderKustomization } from './manifests.mts';
import {
  type Mirror,
  readUpstream,
  type UpstreamChart,
  type UpstreamFile,
  upstreamCharts,
  upstreamFiles,
} from './upstream.mts';
import type { Versions } from './versions.mts';

export type WaitMode = 'all' | 'workloads' | 'none';

export interface Context {
  kubectl: Kubectl;
  versions: Versions;
  mirror: Mirror;
  /** all: also custom resources' Ready (Kafka, Knative Services); workloads: CRDs and Deployments only. */
  wait: WaitMode;
  timeoutSeconds: number;
  dryRun: boolean;
  scaling: 'cpu' | 'requests';
  images: { score?: string; retrainHook?: string; archive?: string };
  /**
   * Leave out upstream admission webhook configurations: for control planes that cannot run the webhook
   * pods (our test cluster), where every call to them would fail. Their validation runs in knative-validate.
   */
  noAdmissionWebhooks: boolean;
  log(line: string): void;
  /** Dry run: the rendered manifests go here. */
  print(text: string): void;
}

export interface Component {
  name: string;
  what: string;
  install(ctx: Context): Promise<void>;
  uninstall(ctx: Context): Promise<void>;
}

const SECRET_NOTE = 'random value, generated in the cluster only if the Secret is missing; never printed';

// ---- steps -----------------------------------------------------------------------------------------

function summary(objects: ObjectRef[]): string {
  const counts = new Map<string, number>();
  for (const o of objects) counts.set(o.kind, (counts.get(o.kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${n} ${kind}`).join(', ');
}

/** Applies a YAML stream (server-side) and waits for what it created, as the wait mode asks. */
async function applyAndWait(
  ctx: Context,
  yaml: string,
  source: string,
  namespace?: string,
): Promise<ObjectRef[]> {
  const objects = objectsOf(yaml, source).map((o) => ({ ...o, namespace: o.namespace ?? namespace }));
  ctx.log(`apply ${source}: ${summary(objects)}`);
  if (ctx.dryRun) return objects;
  await ctx.kubectl.apply(yaml, { namespace });
  await waitForObjects(ctx, objects);
  return objects;
}

function byNamespace(objects: ObjectRef[]): Map<string | undefined, string[]> {
  const groups = new Map<string | undefined, string[]>();
  for (const o of objects) groups.set(o.namespace, [...(groups.get(o.namespace) ?? []), o.name]);
  return groups;
}

export async function waitForObjects(ctx: Context, objects: ObjectRef[]): Promise<void> {
  if (ctx.wait === 'none') return;
  const t = ctx.timeoutSeconds;
  const of = (kind: string, apiVersion?: string) =>
    objects.filter((o) => o.kind === kind && (!apiVersion || o.apiVersion === apiVersion));
  await ctx.kubectl.waitFor(
    { kind: 'crd', names: of('CustomResourceDefinition').map((o) => o.name) },
    'condition=Established',
    t,
  );
  for (const [namespace, names] of byNamespace(of('Deployment', 'apps/v1'))) {
    await ctx.kubectl.waitFor({ kind: 'deployment', names, namespace }, 'condition=Available', t);
  }
  for (const [namespace, names] of byNamespace(of('StatefulSet', 'apps/v1'))) {
    for (const name of names) {
      const replicas = await ctx.kubectl.run([
        'get',
        'statefulset',
        name,
        '-n',
        namespace ?? 'default',
        '-o',
        'jsonpath={.spec.replicas}',
      ]);
      await ctx.kubectl.waitFor(
        { kind: 'statefulset', names: [name], namespace },
        `jsonpath={.status.readyReplicas}=${replicas || '1'}`,
        t,
      );
    }
  }
  if (ctx.wait !== 'all') return;
  for (const [namespace, names] of byNamespace(of('Service', 'serving.knative.dev/v1'))) {
    await ctx.kubectl.waitFor(
      { kind: 'services.serving.knative.dev', names, namespace },
      'condition=Ready',
      t,
    );
  }
  for (const [namespace, names] of byNamespace([...of('Kafka'), ...of('KafkaTopic')])) {
    const kafkas = names.filter((n) => objects.some((o) => o.name === n && o.kind === 'Kafka'));
    const topics = names.filter((n) => objects.some((o) => o.name === n && o.kind === 'KafkaTopic'));
    await ctx.kubectl.waitFor(
      { kind: 'kafkas.kafka.strimzi.io', names: kafkas, namespace },
      'condition=Ready',
      t,
    );
    await ctx.kubectl.waitFor(
      { kind: 'kafkatopics.kafka.strimzi.io', names: topics, namespace },
      'condition=Ready',
      t,
    );
  }
  for (const [namespace, names] of byNamespace([...of('KafkaSource'), ...of('KafkaSink')])) {
    for (const name of names) {
      const kind = objects.find((o) => o.name === name && o.namespace === namespace)?.kind.toLowerCase();
      await ctx.kubectl.waitFor({ kind: `${kind}`, names: [name], namespace }, 'condition=Ready', t);
    }
  }
}

async function upstream(
  ctx: Context,
  file: UpstreamFile,
  transform?: (yaml: string) => string,
): Promise<void> {
  const source = ctx.mirror ? `${file.mirrorPath} (mirror)` : file.url;
  if (ctx.dryRun && ctx.mirror?.kind !== 'dir') {
    ctx.log(`apply ${source}`);
    return;
  }
  let yaml = await readUpstream(file, ctx.mirror);
  if (transform) yaml = transform(yaml);
  if (ctx.noAdmissionWebhooks) {
    const { kept, dropped } = withoutWebhookConfigurations(yaml);
    if (dropped.length > 0) ctx.log(`leave out ${dropped.join(', ')} (--without-admission-webhooks)`);
    yaml = kept;
  }
  await applyAndWait(ctx, yaml, source);
}

const webhookKinds = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);

function withoutWebhookConfigurations(yaml: string): { kept: string; dropped: string[] } {
  const dropped: string[] = [];
  const kept = parseAllDocuments(yaml)
    .filter((doc) => {
      const value = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      if (value?.kind && webhookKinds.has(value.kind)) {
        dropped.push(`${value.kind}/${value.metadata?.name}`);
        return false;
      }
      return value !== null;
    })
    .map((doc) => doc.toString())
    .join('---\n');
  return { kept, dropped };
}

async function removeUpstream(ctx: Context, file: UpstreamFile): Promise<void> {
  ctx.log(`delete the objects of ${file.mirrorPath}`);
  if (ctx.dryRun) return;
  const yaml = await readUpstream(file, ctx.mirror);
  await ctx.kubectl.run(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], yaml);
}

async function project(ctx: Context, folder: string, images: Record<string, string> = {}): Promise<void> {
  const yaml = await renderKustomization(ctx.kubectl, folder, images);
  if (ctx.dryRun) ctx.print(`# ---- ${folder} (rendered)\n${yaml}\n`);
  await applyAndWait(ctx, yaml, folder);
}

async function removeProject(ctx: Context, folder: string): Promise<void> {
  ctx.log(`delete -k ${folder}`);
  if (ctx.dryRun) return;
  await ctx.kubectl.run(['delete', '--ignore-not-found', '--wait=false', '-k', path.join(repoRoot, folder)]);
}

/** Creates a Secret with random values unless it exists; an existing one is never rotated or read. */
async function ensureSecret(
  ctx: Context,
  namespace: string,
  name: string,
  keys: Record<string, () => string>,
) {
  ctx.log(`secret ${namespace}/${name} (${Object.keys(keys).join(', ')}): ${SECRET_NOTE}`);
  if (ctx.dryRun || (await ctx.kubectl.exists('secret', name, namespace))) return;
  const data = Object.fromEntries(
    Object.entries(keys).map(([k, make]) => [k, Buffer.from(make()).toString('base64')]),
  );
  await createSecret(ctx, namespace, name, data);
}

/** A Secret the user must create (its value cannot be invented); the error says how. */
async function requireSecret(ctx: Context, namespace: string, name: string, example: string): Promise<void> {
  ctx.log(`secret ${namespace}/${name}: must exist (yours)`);
  if (ctx.dryRun || (await ctx.kubectl.exists('secret', name, namespace))) return;
  throw new Error(
    `Secret ${namespace}/${name} is missing; create it first: kubectl create secret generic ${name} -n ${namespace} --from-literal=${example}`,
  );
}

async function createSecret(
  ctx: Context,
  namespace: string,
  name: string,
  base64Data: Record<string, string>,
) {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'fraud-platform' } },
    type: 'Opaque',
    data: base64Data,
  };
  await ctx.kubectl.run(['create', '-f', '-'], JSON.stringify(secret));
}

/** Namespace fraud, then a Secret of the retrain-hook's with random values unless it exists. */
async function ensureFraudSecret(
  ctx: Context,
  name: string,
  keys: Record<string, () => string>,
): Promise<void> {
  await applyAndWait(
    ctx,
    readFileSync(path.join(repoRoot, 'knative', 'base', 'namespace.yaml'), 'utf8'),
    'knative/base/namespace.yaml',
  );
  await ensureSecret(ctx, 'fraud', name, keys);
}

async function ensureRetrainHookSecret(ctx: Context): Promise<void> {
  await ensureFraudSecret(ctx, 'retrain-hook', {
    'airflow-hmac-secret': hex(32),
    'mlflow-webhook-secret': hex(32),
  });
}

/** One key of a Secret, base64 as stored; '' when the Secret or the key is missing. */
async function secretKey(ctx: Context, namespace: string, name: string, key: string): Promise<string> {
  if (!(await ctx.kubectl.exists('secret', name, namespace))) return '';
  const data = JSON.parse(
    (await ctx.kubectl.run(['get', 'secret', name, '-n', namespace, '-o', 'jsonpath={.data}'])) || '{}',
  ) as Record<string, string>;
  return data[key] ?? '';
}

/**
 * The credentials of Alertmanager → retrain-hook → Airflow, generated once: the bearer token Alertmanager
 * sends and the hook checks, and the password of the hook's Airflow user (knative/base/retrain-hook-service.yaml).
 */
async function ensureAlertingSecret(ctx: Context): Promise<void> {
  await ensureFraudSecret(ctx, 'retrain-hook-alerting', {
    'alertmanager-token': hex(32),
    'airflow-password': hex(24),
  });
}

/**
 * monitoring/fraud-alert-receivers holds the user's chat webhook URL and pager token (they cannot be
 * invented) and the retrain-hook's token, which the bootstrap adds from fraud/retrain-hook-alerting.
 */
async function ensureAlertReceivers(ctx: Context): Promise<void> {
  await ensureAlertingSecret(ctx);
  await requireSecret(
    ctx,
    'monitoring',
    'fraud-alert-receivers',
    'chat-webhook-url=https://chat.example/hooks/… --from-literal=pager-token=… (monitoring/README.md)',
  );
  ctx.log(
    'secret monitoring/fraud-alert-receivers retrain-hook-token: copied from fraud/retrain-hook-alerting alertmanager-token if missing',
  );
  if (ctx.dryRun) return;
  const token = await secretKey(ctx, 'fraud', 'retrain-hook-alerting', 'alertmanager-token');
  const current = await secretKey(ctx, 'monitoring', 'fraud-alert-receivers', 'retrain-hook-token');
  if (current === '') {
    await ctx.kubectl.run([
      'patch',
      'secret',
      'fraud-alert-receivers',
      '-n',
      'monitoring',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ data: { 'retrain-hook-token': token } }),
    ]);
  } else if (current !== token) {
    throw new Error(
      'monitoring/fraud-alert-receivers retrain-hook-token differs from fraud/retrain-hook-alerting alertmanager-token: the retrain-hook would refuse every alert; give both the same value (monitoring/RUNBOOK.md)',
    );
  }
}

const hex = (bytes: number) => () => randomBytes(bytes).toString('hex');
/** A Fernet key (32 random bytes, URL-safe base64), what MLflow expects for webhook secret encryption. */
const fernetKey = () => `${randomBytes(32).toString('base64url').replace(/=+$/, '')}=`;

async function helmRelease(
  ctx: Context,
  chart: UpstreamChart,
  release: string,
  namespace: string,
  /** Helm merges them in order: a later file wins. */
  valuesFiles: string[],
  extra: string[] = [],
): Promise<void> {
  let chartRef: string[];
  let cleanup: (() => void) | undefined;
  if (ctx.mirror?.kind === 'dir') {
    const local = path.join(ctx.mirror.dir, chart.mirrorPath);
    if (!existsSync(local))
      throw new Error(
        `the mirror ${ctx.mirror.dir} has no ${chart.mirrorPath} (helm chart ${chart.name} ${chart.version} from ${chart.repo})`,
      );
    chartRef = [local];
  } else if (ctx.mirror?.kind === 'url') {
    const url = `${ctx.mirror.base}/${chart.mirrorPath}`;
    if (ctx.dryRun) chartRef = [url];
    else {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`downloading ${url} failed: HTTP ${response.status}`);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'fraud-chart-'));
      const file = path.join(dir, path.basename(chart.mirrorPath));
      writeFileSync(file, Buffer.from(await response.arrayBuffer()));
      chartRef = [file];
      cleanup = () => rmSync(dir, { recursive: true, force: true });
    }
  } else {
    chartRef = [chart.name, '--repo', chart.repo, '--version', chart.version];
  }
  const args = [
    'upgrade',
    '--install',
    release,
    ...chartRef,
    '--namespace',
    namespace,
    '--create-namespace',
    ...valuesFiles.flatMap((f) => ['-f', f]),
    ...extra,
    ...(ctx.wait === 'none' ? [] : ['--wait', '--timeout', `${ctx.timeoutSeconds}s`]),
  ];
  ctx.log(`helm ${args.join(' ')}`);
  try {
    if (!ctx.dryRun) await ctx.kubectl.helm(args);
  } finally {
    cleanup?.();
  }
}

// ---- components ------------------------------------------------------------------------------------

function files(ctx: Context, component: string): UpstreamFile[] {
  return upstreamFiles(ctx.versions)[component] ?? [];
}

function upstreamComponent(name: string, what: string, after?: (ctx: Context) => Promise<void>): Component {
  return {
    name,
    what,
    async install(ctx) {
      for (const file of files(ctx, name)) await upstream(ctx, file);
      await after?.(ctx);
    },
    async uninstall(ctx) {
      for (const file of files(ctx, name).reverse()) await removeUpstream(ctx, file);
    },
  };
}

export const components: Component[] = [
  upstreamComponent(
    'knative-serving',
    'Knative Serving CRDs and core (controller, activator, autoscaler, webhook)',
  ),
  upstreamComponent('kourier', 'net-kourier ingress, made the cluster ingress class', async (ctx) => {
    ctx.log('patch knative-serving/config-network: ingress-class = kourier.ingress.networking.knative.dev');
    if (ctx.dryRun) return;
    await ctx.kubectl.run([
      'patch',
      'configmap',
      'config-network',
      '-n',
      'knative-serving',
      '--type=merge',
      '-p',
      '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}',
    ]);
  }),
  upstreamComponent('serving-hpa', "Knative Serving's HPA autoscaler (for the cpu scaling overlay)"),
  upstreamComponent('knative-eventing', 'Knative Eventing CRDs and core'),
  upstreamComponent(
    'eventing-kafka',
    'KafkaSource and KafkaSink (eventing-kafka-broker controller, source, sink)',
  ),
  {
    name: 'strimzi',
    what: 'Strimzi cluster operator, watching the kafka namespace',
    async install(ctx) {
      await applyAndWait(
        ctx,
        readFileSync(path.join(repoRoot, 'kafka', 'namespace.yaml'), 'utf8'),
        'kafka/namespace.yaml',
      );
      // The release YAML installs into "myproject"; ours is "kafka".
      for (const file of files(ctx, 'strimzi')) {
        await upstream(ctx, file, (yaml) => yaml.replace(/namespace: myproject\b/g, 'namespace: kafka'));
      }
    },
    async uninstall(ctx) {
      for (const file of files(ctx, 'strimzi')) await removeUpstream(ctx, file);
    },
  },
  {
    name: 'kafka',
    what: 'the Kafka cluster "fraud" (KRaft, node pools) and its topics (kafka/)',
    install: (ctx) => project(ctx, 'kafka'),
    uninstall: (ctx) => removeProject(ctx, 'kafka'),
  },
  upstreamComponent(
    'prometheus-operator-crds',
    'prometheus-operator CRDs (PrometheusRule, ServiceMonitor, ...)',
  ),
  {
    name: 'kube-prometheus-stack',
    what: 'Prometheus, Alertmanager, Grafana, kube-state-metrics (Helm chart kube-prometheus-stack)',
    async install(ctx) {
      const chart = upstreamCharts(ctx.versions).monitoring as UpstreamChart;
      await applyAndWait(ctx, namespaceYaml('monitoring'), 'namespace monitoring');
      await ensureSecret(ctx, 'monitoring', 'grafana-admin', {
        'admin-user': () => 'admin',
        'admin-password': hex(16),
      });
      // Alertmanager mounts the receivers' Secret: without it its pod would never start, so fail first.
      await ensureAlertReceivers(ctx);
      await helmRelease(
        ctx,
        chart,
        'kube-prometheus-stack',
        'monitoring',
        // The wiring monitoring/ relies on (our Alertmanager config and receivers), then this cluster's extras.
        [
          path.join(repoRoot, 'monitoring', 'kube-prometheus-stack-values.yaml'),
          valuesFile('kube-prometheus-stack.yaml'),
        ],
        ['--set', 'crds.enabled=false'],
      );
    },
    async uninstall(ctx) {
      ctx.log('helm uninstall kube-prometheus-stack -n monitoring');
      if (!ctx.dryRun)
        await ctx.kubectl.helm([
          'uninstall',
          'kube-prometheus-stack',
          '-n',
          'monitoring',
          '--ignore-not-found',
        ]);
    },
  },
  {
    name: 'monitoring',
    what: 'kubectl apply -k monitoring: PrometheusRules, PodMonitors, Grafana dashboards, the Alertmanager config',
    install: (ctx) => monitoringManifests(ctx),
    uninstall: (ctx) => removeProject(ctx, 'monitoring'),
  },
  {
    name: 'mlflow',
    what: 'MLflow with its PostgreSQL backend and artifact volume (mlflow/)',
    async install(ctx) {
      await applyAndWait(
        ctx,
        readFileSync(path.join(repoRoot, 'mlflow', 'namespace.yaml'), 'utf8'),
        'mlflow/namespace.yaml',
      );
      await ensureSecret(ctx, 'mlflow', 'mlflow-postgres', { password: hex(24) });
      await ensureSecret(ctx, 'mlflow', 'mlflow-webhooks', { 'encryption-key': fernetKey });
      // The archive's role on this server (mlflow/archive-db.yaml) and the archive function (fraud) share
      // one password: generated here, copied to the fraud namespace.
      await ensureSecret(ctx, 'mlflow', 'archive-postgres', { password: hex(24) });
      await ensureRetrainHookSecret(ctx); // creates the fraud namespace
      ctx.log('secret fraud/archive-postgres (password): copied from mlflow/archive-postgres if missing');
      if (!ctx.dryRun && !(await ctx.kubectl.exists('secret', 'archive-postgres', 'fraud'))) {
        const password = await ctx.kubectl.run([
          'get',
          'secret',
          'archive-postgres',
          '-n',
          'mlflow',
          '-o',
          'jsonpath={.data.password}',
        ]);
        await createSecret(ctx, 'fraud', 'archive-postgres', { password });
      }
      await project(ctx, 'mlflow');
    },
    uninstall: (ctx) => removeProject(ctx, 'mlflow'),
  },
  {
    name: 'airflow-config',
    what: "Airflow's namespace and keys, the retrain-hook HMAC key the DAG signs with, the training volume",
    async install(ctx) {
      await applyAndWait(ctx, namespaceYaml('airflow'), 'namespace airflow');
      // Keys the chart needs that can be random; the database URL and git credentials are the user's.
      await ensureSecret(ctx, 'airflow', 'airflow-fernet-key', { 'fernet-key': fernetKey });
      await ensureSecret(ctx, 'airflow', 'airflow-api-secret-key', { 'api-secret-key': hex(32) });
      await ensureSecret(ctx, 'airflow', 'airflow-jwt-secret', { 'jwt-secret': hex(32) });
      await requireSecret(
        ctx,
        'airflow',
        'airflow-metadata-db',
        'connection=postgresql://USER:PASSWORD@HOST:5432/airflow',
      );
      await requireSecret(
        ctx,
        'airflow',
        'airflow-git-credentials',
        'GIT_SYNC_USERNAME=… --from-literal=GIT_SYNC_PASSWORD=…',
      );
      // The hook's Airflow password (fraud/retrain-hook-alerting); its user is made in your auth manager.
      await ensureAlertingSecret(ctx);
      // The DAG signs its callbacks with the key the retrain-hook verifies: one value, two namespaces.
      await ensureRetrainHookSecret(ctx);
      ctx.log(
        'secret airflow/retrain-hook-hmac (secret): copied from fraud/retrain-hook airflow-hmac-secret if missing',
      );
      if (!ctx.dryRun && !(await ctx.kubectl.exists('secret', 'retrain-hook-hmac', 'airflow'))) {
        const key = await ctx.kubectl.run([
          'get',
          'secret',
          'retrain-hook',
          '-n',
          'fraud',
          '-o',
          'jsonpath={.data.airflow-hmac-secret}',
        ]);
        await createSecret(ctx, 'airflow', 'retrain-hook-hmac', { secret: key });
      }
      for (const file of airflowManifests) {
        await applyAndWait(ctx, readFileSync(path.join(repoRoot, file), 'utf8'), file);
      }
    },
    async uninstall(ctx) {
      // The namespace, the chart's keys and your Secrets stay: a reinstall must read the same metadata database.
      ctx.log(`delete ${airflowManifests.join(', ')} and secret airflow/retrain-hook-hmac`);
      if (ctx.dryRun) return;
      for (const file of airflowManifests) {
        await ctx.kubectl.run([
          'delete',
          '--ignore-not-found',
          '--wait=false',
          '-f',
          path.join(repoRoot, file),
        ]);
      }
      await ctx.kubectl.run(['delete', 'secret', 'retrain-hook-hmac', '-n', 'airflow', '--ignore-not-found']);
    },
  },
  {
    name: 'airflow',
    what: 'Apache Airflow (Helm) with airflow/helm values',
    async install(ctx) {
      const values = path.join(repoRoot, 'airflow', 'helm', 'values.yaml');
      if (!existsSync(values)) throw new Error(`${values} is missing (the retraining part provides it)`);
      const chart = upstreamCharts(ctx.versions).airflow as UpstreamChart;
      await helmRelease(ctx, chart, 'airflow', 'airflow', [values]);
    },
    async uninstall(ctx) {
      ctx.log('helm uninstall airflow -n airflow');
      if (!ctx.dryRun)
        await ctx.kubectl.helm(['uninstall', 'airflow', '-n', 'airflow', '--ignore-not-found']);
    },
  },
  {
    name: 'functions',
    what: 'the score, retrain-hook and archive Knative Services, KafkaSources, KafkaSinks, RBAC, policies (knative/)',
    install: (ctx) => deployFunctions(ctx),
    uninstall: (ctx) => removeProject(ctx, `knative/overlays/${ctx.scaling}`),
  },
];

/** What Airflow's pipeline needs besides the chart: the training work volume and the training Pod's identity. */
export const airflowManifests = ['airflow/helm/pvc.yaml', 'airflow/k8s/training-serviceaccount.yaml'];

const namespaceYaml = (name: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'app.kubernetes.io/part-of': 'fraud-platform' } },
  });

function valuesFile(name: string): string {
  return path.join(repoRoot, 'scripts', 'cluster', 'values', name);
}

async function monitoringManifests(ctx: Context): Promise<void> {
  await applyAndWait(ctx, namespaceYaml('monitoring'), 'namespace monitoring');
  // The Alertmanager config reads its credentials from this Secret's files.
  await ensureAlertReceivers(ctx);
  await project(ctx, 'monitoring');
}

export async function deployFunctions(ctx: Context): Promise<void> {
  const { score, retrainHook, archive } = ctx.images;
  if (!ctx.dryRun && (!score || !retrainHook || !archive)) {
    throw new Error(
      'functions: pass --score-image, --retrain-hook-image and --archive-image (registry/name:tag or @sha256:...), the images `func build` or your CI pushed',
    );
  }
  const images: Record<string, string> = {};
  if (score) images['registry.invalid/fraud/score'] = score;
  if (retrainHook) images['registry.invalid/fraud/retrain-hook'] = retrainHook;
  if (archive) images['registry.invalid/fraud/archive'] = archive;
  await ensureRetrainHookSecret(ctx);
  await project(ctx, `knative/overlays/${ctx.scaling}`, images);
}

export function selectComponents(only?: string[], skip?: string[]): Component[] {
  const known = new Set(components.map((c) => c.name));
  for (const name of [...(only ?? []), ...(skip ?? [])]) {
    if (!known.has(name))
      throw new UsageError(`unknown component "${name}"; known: ${[...known].join(', ')}`);
  }
  return components.filter((c) => (!only || only.includes(c.name)) && !skip?.includes(c.name));
}
