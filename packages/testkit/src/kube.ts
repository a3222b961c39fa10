// A real Kubernetes control plane on loopback for tests: etcd 3.6 + kube-apiserver (RBAC on, server-side
// apply, admission, CRD validation — all real), and optionally kwok so Deployments and StatefulSets turn
// Available. There is no controller-manager and no container runtime: nothing reconciles Knative or Strimzi.
//
//   const cp = await startControlPlane({ crds: [knativeServingCrds()] });
//   await $`kubectl --kubeconfig ${cp.kubeconfig} apply -f svc.yaml`;
//   await cp.stop();
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { etcdArgs } from './etcd.ts';
import { ensureKube, kubeVersions } from './install/kube.ts';
import { repoRoot } from './paths.ts';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitUntil } from './process.ts';

const run = promisify(execFile);

export interface ControlPlaneOptions {
  /** CRD files or folders (every *.yaml/*.yml inside, recursively) to apply, then wait for Established. */
  crds?: string[];
  /** Run kwok, so Deployments and StatefulSets report their replicas ready and become Available (default false). */
  kwok?: boolean;
  /** Keep the data dir after stop(), for debugging (default false). */
  keepData?: boolean;
}

export interface ControlPlane {
  /** Path of an admin kubeconfig (cluster-admin via system:masters). */
  kubeconfig: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** PEM of the CA that signed the serving certificate, for clients other than kubectl. */
  caCert: string;
  /** Bearer token of the admin user. */
  token: string;
  /** Kubernetes version of the apiserver, e.g. v1.36.3. */
  version: string;
  dataDir: string;
  /** Runs kubectl against this control plane; rejects with kubectl's stderr on failure. */
  kubectl(args: string[], input?: string): Promise<string>;
  /** Stops kwok, the apiserver and etcd, and removes the data dir. */
  stop(): Promise<void>;
}

/** The Knative Serving CRDs (services, configurations, revisions, routes, ...) shipped in the knative.dev/serving module. */
export async function knativeServingCrds(): Promise<string> {
  const pins = JSON.parse(readFileSync(versionsFile(), 'utf8')) as { knative: { servingModule: string } };
  const version = pins.knative.servingModule;
  const dir = await goModuleDir(`knative.dev/serving@${version}`);
  return path.join(dir, 'config', 'core', '300-resources');
}

function versionsFile(): string {
  return path.join(repoRoot, 'scripts', 'cluster', 'versions.json');
}

/** Downloads a Go module through the module proxy (cached by Go) and returns its source directory. */
export async function goModuleDir(moduleAtVersion: string): Promise<string> {
  try {
    const { stdout } = await run('go', ['mod', 'download', '-json', moduleAtVersion], {
      cwd: os.tmpdir(),
      env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
      maxBuffer: 16 * 1024 * 1024,
    });
    return (JSON.parse(stdout) as { Dir: string }).Dir;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `go mod download ${moduleAtVersion} failed: ${(e.stdout || e.stderr || e.message).trim()}`,
    );
  }
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binaries = await ensureKube();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fraud-kube-'));
  const logDir = path.join(dataDir, 'logs');
  const started: ManagedProcess[] = [];
  const stopAll = async () => {
    for (const p of started.reverse()) await p.stop(5_000);
    if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = startProcess({
      name: 'etcd',
      command: binaries.etcd,
      logDir,
      args: etcdArgs(path.join(dataDir, 'etcd'), etcdUrl, peerPort),
    });
    started.push(etcd);
    await waitUntil(etcd, 'etcd /health', async () => (await fetch(`${etcdUrl}/health`)).ok, 30_000);

    const token = randomBytes(24).toString('hex');
    const pki = path.join(dataDir, 'pki');
    mkdirSync(pki, { recursive: true });
    writeFileSync(path.join(pki, 'tokens.csv'), `${token},admin,admin,system:masters\n`, { mode: 0o600 });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(path.join(pki, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    writeFileSync(path.join(pki, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = startProcess({
      name: 'kube-apiserver',
      command: binaries.kubeApiserver,
      logDir,
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${pki}`, // self-signed serving certificate, generated on first start
        `--token-auth-file=${path.join(pki, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        `--service-account-key-file=${path.join(pki, 'sa.pub')}`,
        `--service-account-signing-key-file=${path.join(pki, 'sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        // Service IPs from the loopback range: when the apiserver dials a Service itself (admission or
        // conversion webhooks, aggregated APIs), the connection stays on this machine and fails fast instead
        // of leaving it for a private-range address.
        '--service-cluster-ip-range=127.96.0.0/16',
        '--endpoint-reconciler-type=none', // a loopback address may not be an Endpoints IP
        '--allow-privileged=false',
        '--profiling=false',
        '--v=1',
      ],
    });
    started.push(apiserver);
    const caFile = path.join(pki, 'apiserver.crt');
    await waitUntil(apiserver, 'the serving certificate', async () => existsSync(caFile), 60_000);
    const caCert = readFileSync(caFile, 'utf8');
    const kubeconfig = path.join(dataDir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml(server, caCert, token), { mode: 0o600 });
    const kubectl = kubectlFor(kubeconfig);
    await waitUntil(
      apiserver,
      'kube-apiserver /readyz',
      async () => (await kubectl(['get', '--raw=/readyz'])) === 'ok',
      90_000,
    );
    // RBAC bootstrap roles land shortly after readyz; tests that impersonate need them.
    await waitUntil(
      apiserver,
      'bootstrap ClusterRole "view"',
      async () => {
        await kubectl(['get', 'clusterrole', 'view']);
        return true;
      },
      30_000,
    );

    if (options.kwok) started.push(await startKwok(binaries.kwok, kubeconfig, dataDir));
    for (const source of options.crds ?? []) await applyCrds(kubectl, source);

    return {
      kubeconfig,
      server,
      caCert,
      token,
      version: kubeVersions().kubernetes,
      dataDir,
      kubectl,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function kubeconfigYaml(server: string, caCert: string, token: string): string {
  const ca = Buffer.from(caCert).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${server}
    certificate-authority-data: ${ca}
users:
- name: admin
  user:
    token: ${token}
contexts:
- name: test
  context: { cluster: test, user: admin }
current-context: test
`;
}

function kubectlFor(kubeconfig: string) {
  return async (args: string[], input?: string): Promise<string> => {
    const child = run('kubectl', ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 64 * 1024 * 1024 });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    try {
      return (await child).stdout.trim();
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
    }
  };
}

/** Every YAML file of a file or folder, sorted, so the apply order is stable. */
export function yamlFiles(source: string): string[] {
  if (!statSync(source).isDirectory()) return [source];
  return readdirSync(source, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(source, f));
}

async function applyCrds(kubectl: (args: string[]) => Promise<string>, source: string): Promise<void> {
  const files = yamlFiles(source);
  if (files.length === 0) throw new Error(`no CRD files found in ${source}`);
  for (const file of files) await kubectl(['apply', '--server-side', '--force-conflicts', '-f', file]);
  const crds = files.flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/^kind: CustomResourceDefinition[\s\S]*?^ {2}name: (\S+)/gm)].map(
      (m) => m[1] as string,
    ),
  );
  if (crds.length === 0) return;
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((c) => `crd/${c}`)]);
}

// Without a controller-manager nothing turns a Deployment into Pods, so kwok's Stage API plays the part of
// the Deployment/StatefulSet controllers for status only: it reports every replica ready and the rollout
// complete. That is what "Available" means to `kubectl wait` and to the bootstrap's checks.
const workloadStages = ['Deployment', 'StatefulSet']
  .map(
    (kind) => `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: ${kind.toLowerCase()}-available
spec:
  resourceRef:
    apiGroup: apps/v1
    kind: ${kind}
  selector:
    matchExpressions:
      - key: .metadata.deletionTimestamp
        operator: DoesNotExist
      - key: '.status.conditions.[] | select( .type == "Available" ) | .status'
        operator: NotIn
        values: ["True"]
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $replicas := or .spec.replicas 1 }}
      observedGeneration: {{ .metadata.generation }}
      replicas: {{ $replicas }}
      updatedReplicas: {{ $replicas }}
      readyReplicas: {{ $replicas }}
      availableReplicas: {{ $replicas }}
      currentReplicas: {{ $replicas }}
      conditions:
      - type: Available
        status: "True"
        reason: MinimumReplicasAvailable
        message: kwok reports every replica ready
        lastUpdateTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
      - type: Progressing
        status: "True"
        reason: NewReplicaSetAvailable
        lastUpdateTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
`,
  )
  .join('---\n');

async function startKwok(kwokBinary: string, kubeconfig: string, dataDir: string): Promise<ManagedProcess> {
  const config = path.join(dataDir, 'kwok-stages.yaml');
  writeFileSync(config, workloadStages);
  const port = await freePort();
  const kwok = startProcess({
    name: 'kwok',
    command: kwokBinary,
    logDir: path.join(dataDir, 'logs'),
    args: [
      `--kubeconfig=${kubeconfig}`,
      `--config=${config}`,
      // kwok must manage some nodes; none carry this annotation, so it only runs the workload stages.
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      `--server-address=127.0.0.1:${port}`,
    ],
  });
  await waitUntil(
    kwok,
    'kwok /healthz',
    async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
    30_000,
  );
  return kwok;
}
