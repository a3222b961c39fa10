#!/usr/bin/env -S npx tsx
// `npm run test:cluster`: the platform's manifests and bootstrap against a real Kubernetes control plane.
//
//  1. builds (or reuses) kube-apiserver, etcd and kwok, and the Knative validator (tools/knative-validate)
//  2. builds a mirror from the Go modules (Knative Serving, prometheus-operator CRDs) and lists what it
//     cannot mirror, with the reason
//  3. starts etcd + kube-apiserver + kwok on loopback; installs stand-in CRDs for the kinds whose upstream
//     CRDs are not obtainable (said for each)
//  4. runs `bootstrap --mirror` (skipping the components the mirror lacks), then again (idempotence)
//  5. applies every manifest of the project, server-side dry-run first, then for real, and checks the
//     objects: scale bounds, scaling class, images, RBAC (as the retrain-hook's service account),
//     PodSecurity "restricted" on the pod templates, secrets generated and never in manifests
//  6. runs Knative's validation on every Knative Service and KafkaSource, and the broken fixtures
//  7. tears down, checks what is gone, stops everything
// Ends with "cluster: N passed, N failed"; exit code 1 if anything failed.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureKube } from '@fraud/testkit/install/kube';
import { startControlPlane } from '@fraud/testkit/kube';
import { cacheDir } from '@fraud/testkit/paths';
import { chalk, minimist } from 'zx';
import { parseScriptArgs } from '../lib/options.mts';
import { repoRoot } from '../lib/repo.mts';
import { bootstrap } from './bootstrap.mts';
import { airflowManifests } from './lib/components.mts';
import { type CommandError, Kubectl } from './lib/kubectl.mts';
import { objectsOf, renderKustomization } from './lib/manifests.mts';
import { standInCrdYaml, standIns } from './lib/stand-in-crds.mts';
import { buildMirror } from './mirror.mts';
import { teardown } from './teardown.mts';

parseScriptArgs(
  minimist,
  process.argv.slice(2),
  [],
  'usage: npm run test:cluster   (no options: runs every check against a fresh control plane)',
);

const run = promisify(execFile);
const results: { name: string; ok: boolean; detail?: string }[] = [];
const timings: Record<string, number> = {};

async function check(name: string, fn: () => Promise<string | undefined>): Promise<boolean> {
  try {
    const note = await fn();
    results.push({ name, ok: true });
    console.log(`${chalk.green('ok  ')} ${name}${note ? chalk.dim(`  (${note})`) : ''}`);
    return true;
  } catch (error) {
    results.push({ name, ok: false, detail: (error as Error).message });
    console.log(`${chalk.red('FAIL')} ${name}\n${indent((error as Error).message)}`);
    return false;
  }
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `     ${l}`)
    .join('\n');

function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    timings[label] = (Date.now() - started) / 1000;
  }
}

// ---- 1. binaries -------------------------------------------------------------------------------------

const kubeCachedBefore = existsSync(path.join(cacheDir, 'kube'))
  ? readdirSync(path.join(cacheDir, 'kube')).filter((d) =>
      existsSync(path.join(cacheDir, 'kube', d, 'stamp')),
    )
  : [];
const binaries = await timed('build kube-apiserver, etcd, kwok', () => ensureKube());
console.log(
  `control plane: kube-apiserver ${binaries.versions.kubernetes}, etcd ${binaries.versions.etcd}, kwok ${binaries.versions.kwok}` +
    ` (${kubeCachedBefore.length === 3 ? 'cached' : 'built'} in ${timings['build kube-apiserver, etcd, kwok']} s)`,
);

const validator = path.join(cacheDir, 'knative-validate', 'knative-validate');
await timed('build knative-validate', () =>
  run('go', ['build', '-o', validator, '.'], {
    cwd: path.join(repoRoot, 'tools', 'knative-validate'),
    env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
  }),
);

// ---- 2. mirror ---------------------------------------------------------------------------------------

const work = mkdtempSync(path.join(os.tmpdir(), 'fraud-test-cluster-'));
const mirrorDir = path.join(work, 'mirror');
const mirror = await timed('mirror from Go modules', () => buildMirror(mirrorDir, 'go-modules'));
console.log(chalk.bold('\nmirror (from the Go module proxy):'));
for (const [file, source] of Object.entries(mirror.files)) console.log(`  mirrored ${file} ← ${source}`);
for (const [file, reason] of Object.entries(mirror.skipped))
  console.log(`  ${chalk.yellow('skipped')}  ${file}: ${reason}`);

// Components whose upstream files the mirror lacks are skipped by the bootstrap, each named with its reason.
const skipComponents = new Map<string, string>([
  ['kourier', 'net-kourier not mirrored'],
  ['knative-eventing', 'eventing release YAML not mirrored'],
  ['eventing-kafka', 'eventing-kafka-broker release YAML not mirrored'],
  ['strimzi', 'Strimzi operator YAML not mirrored'],
  ['kube-prometheus-stack', 'chart not mirrored'],
  ['airflow', 'chart not mirrored'],
]);
for (const [component, reason] of skipComponents) {
  const mirrored = Object.keys(mirror.files).some((f) =>
    f.startsWith(
      {
        kourier: 'net-kourier/',
        'knative-eventing': 'knative-eventing/',
        'eventing-kafka': 'eventing-kafka-broker/',
        strimzi: 'strimzi/',
        'kube-prometheus-stack': 'charts/kube-prometheus-stack',
        airflow: 'charts/airflow',
      }[component] ?? '?',
    ),
  );
  if (mirrored) skipComponents.delete(component);
  else console.log(`  bootstrap will skip ${component}: ${reason}`);
}

// ---- 3. control plane ----------------------------------------------------------------------------------

const cp = await timed('start control plane', () => startControlPlane({ kwok: true }));
const kubectl = new Kubectl({ kubeconfig: cp.kubeconfig });
const images = {
  score:
    'registry.example.com/fraud/score@sha256:1111111111111111111111111111111111111111111111111111111111111111',
  retrainHook: 'registry.example.com/fraud/retrain-hook:0.1.0',
  archive: 'registry.example.com/fraud/archive:0.1.0',
};
let exitCode = 0;
try {
  console.log(
    chalk.bold(
      `\ncontrol plane ${cp.server} (${cp.version}), started in ${timings['start control plane']} s`,
    ),
  );

  await check('stand-in CRDs installed for kinds with no obtainable upstream CRD', async () => {
    for (const s of standIns) await kubectl.apply(standInCrdYaml(s));
    await kubectl.waitFor(
      { kind: 'crd', names: standIns.map((s) => `${s.plural}.${s.group}`) },
      'condition=Established',
      60,
    );
    return standIns.map((s) => `${s.kind} (${s.upstream})`).join(', ');
  });

  // ---- 4. bootstrap ------------------------------------------------------------------------------------
  const bootstrapArgs = [
    '--kubeconfig',
    cp.kubeconfig,
    '--mirror',
    mirrorDir,
    '--wait',
    'workloads',
    '--timeout',
    '120',
    '--skip',
    [...skipComponents.keys()].join(','),
    '--score-image',
    images.score,
    '--retrain-hook-image',
    images.retrainHook,
    '--archive-image',
    images.archive,
    '--without-admission-webhooks',
  ];
  await check('bootstrap --dry-run prints the plan and changes nothing', async () => {
    // Two components are enough to show the plan and the rendered manifests without flooding the log.
    await bootstrap([
      ...bootstrapArgs.filter((a, i, all) => a !== '--skip' && all[i - 1] !== '--skip'),
      '--only',
      'knative-serving,functions',
      '--dry-run',
    ]);
    const namespaces = await kubectl.run(['get', 'namespaces', '-o', 'name']);
    expect(!namespaces.includes('knative-serving'), 'a dry run created namespace knative-serving');
  });
  await check("a user's own Secrets are created first, as knative/README.md says", async () => {
    // Values that cannot be generated (a database URL, git credentials); placeholders that point nowhere.
    await kubectl.apply('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: airflow\n');
    for (const [name, literals] of [
      ['airflow-metadata-db', ['connection=postgresql://airflow@postgres.invalid:5432/airflow']],
      ['airflow-git-credentials', ['GIT_SYNC_USERNAME=reader', 'GIT_SYNC_PASSWORD=not-a-real-token']],
    ] as const) {
      await kubectl.run([
        'create',
        'secret',
        'generic',
        name,
        '-n',
        'airflow',
        ...literals.map((l) => `--from-literal=${l}`),
      ]);
    }
    await kubectl.apply('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n');
    await kubectl.run([
      'create',
      'secret',
      'generic',
      'fraud-alert-receivers',
      '-n',
      'monitoring',
      '--from-literal=chat-webhook-url=https://chat.invalid/hooks/test',
      '--from-literal=pager-token=not-a-real-token',
    ]);
    return 'airflow/airflow-metadata-db, airflow/airflow-git-credentials, monitoring/fraud-alert-receivers';
  });
  const bootstrapped = await check(
    'bootstrap --mirror installs every mirrored component and waits for it',
    async () => {
      await timed('bootstrap', () => bootstrap(bootstrapArgs));
      return `${timings.bootstrap} s`;
    },
  );

  if (bootstrapped) {
    await check('Knative Serving control plane Deployments are Available (kwok)', async () => {
      const out = await kubectl.run([
        'get',
        'deployments',
        '-n',
        'knative-serving',
        '-o',
        'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Available")].status} {end}',
      ]);
      for (const name of ['activator', 'autoscaler', 'controller', 'webhook', 'autoscaler-hpa']) {
        expect(out.includes(`${name}=True`), `deployment ${name} not Available: ${out}`);
      }
      return out.trim();
    });
    const secretVersions = await kubectl.run([
      'get',
      'secrets',
      '-A',
      '-l',
      'app.kubernetes.io/part-of=fraud-platform',
      '-o',
      'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}@{.metadata.resourceVersion} {end}',
    ]);
    await check('generated Secrets exist with the keys the manifests reference', async () => {
      for (const [ns, name, keys] of [
        ['mlflow', 'mlflow-postgres', ['password']],
        ['mlflow', 'mlflow-webhooks', ['encryption-key']],
        ['mlflow', 'archive-postgres', ['password']],
        ['fraud', 'archive-postgres', ['password']],
        ['fraud', 'retrain-hook', ['airflow-hmac-secret', 'mlflow-webhook-secret']],
        ['airflow', 'airflow-fernet-key', ['fernet-key']],
        ['airflow', 'retrain-hook-hmac', ['secret']],
        ['fraud', 'retrain-hook-alerting', ['alertmanager-token', 'airflow-password']],
      ] as const) {
        const data = JSON.parse(
          await kubectl.run(['get', 'secret', name, '-n', ns, '-o', 'jsonpath={.data}']),
        ) as Record<string, string>;
        for (const key of keys)
          expect(
            Buffer.from(data[key] ?? '', 'base64').length >= 16,
            `${ns}/${name} lacks a value for ${key}`,
          );
      }
      // The DAG signs with the key the hook verifies: the same value in both namespaces.
      const read = (ns: string, name: string, key: string) =>
        kubectl.run(['get', 'secret', name, '-n', ns, '-o', `jsonpath={.data.${key}}`]);
      expect(
        (await read('airflow', 'retrain-hook-hmac', 'secret')) ===
          (await read('fraud', 'retrain-hook', 'airflow-hmac-secret')),
        'airflow/retrain-hook-hmac differs from the key the retrain-hook verifies',
      );
      // Alertmanager sends the token the hook checks: the bootstrap added it to the user's receivers Secret.
      expect(
        (await read('monitoring', 'fraud-alert-receivers', 'retrain-hook-token')) ===
          (await read('fraud', 'retrain-hook-alerting', 'alertmanager-token')),
        'monitoring/fraud-alert-receivers retrain-hook-token differs from the token the retrain-hook checks',
      );
      expect(
        (await read('monitoring', 'fraud-alertmanager-config', 'alertmanager\\.yaml')).length > 100,
        'kubectl apply -k monitoring did not create the Alertmanager config Secret',
      );
      return secretVersions.trim();
    });
    await check('bootstrap is idempotent: a second run succeeds and keeps the Secrets', async () => {
      await timed('bootstrap again', () => bootstrap(bootstrapArgs));
      const after = await kubectl.run([
        'get',
        'secrets',
        '-A',
        '-l',
        'app.kubernetes.io/part-of=fraud-platform',
        '-o',
        'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}@{.metadata.resourceVersion} {end}',
      ]);
      expect(
        after === secretVersions,
        `Secrets changed on the second run:\n before ${secretVersions}\n after  ${after}`,
      );
      return `${timings['bootstrap again']} s`;
    });
  }

  // ---- 5. every project manifest ----------------------------------------------------------------------
  const projectManifests: { source: string; yaml: () => Promise<string>; namespace?: string }[] = [
    ...['knative/overlays/requests', 'knative/overlays/cpu', 'kafka', 'mlflow'].map((folder) => ({
      source: folder,
      yaml: () => renderKustomization(kubectl, folder, { 'registry.invalid/fraud/score': images.score }),
    })),
    // airflow/helm/values.yaml is Helm input (the chart is not obtainable here); these are plain manifests.
    ...airflowManifests.map((file) => ({
      source: file,
      yaml: async () => readFileSync(path.join(repoRoot, file), 'utf8'),
    })),
    ...['monitoring/rules', 'monitoring/dashboards/generated'].flatMap((folder) =>
      readdirSync(path.join(repoRoot, folder))
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => ({
          source: `${folder}/${f}`,
          namespace: 'monitoring',
          yaml: async () => readFileSync(path.join(repoRoot, folder, f), 'utf8'),
        })),
    ),
  ];
  const standInKinds = new Set(standIns.map((s) => s.kind));
  for (const manifest of projectManifests) {
    await check(`${manifest.source}: server-side dry-run, then apply`, async () => {
      const yaml = await manifest.yaml();
      const objects = objectsOf(yaml, manifest.source);
      expect(
        !objects.some((o) => o.kind === 'Secret'),
        `${manifest.source} contains a Secret: secrets are referenced, never written`,
      );
      await kubectl.apply(yaml, { dryRun: true, namespace: manifest.namespace });
      await kubectl.apply(yaml, { namespace: manifest.namespace });
      for (const o of objects) {
        const ns = o.namespace ?? manifest.namespace;
        await kubectl.run([
          'get',
          `${o.kind}.${o.apiVersion.split('/').slice(0, -1).join('/') || ''}`.replace(/\.$/, ''),
          o.name,
          ...(ns ? ['-n', ns] : []),
        ]);
      }
      const admittedByStandIn = objects.filter((o) => standInKinds.has(o.kind));
      return `${objects.length} objects${admittedByStandIn.length ? `; ${admittedByStandIn.length} (${[...new Set(admittedByStandIn.map((o) => o.kind))].join(', ')}) admitted by schemaless stand-in CRDs` : ''}`;
    });
  }

  await check(
    'score Service: min-scale 4, max-scale 6, HPA on cpu 70 (cpu overlay), image from deploy',
    async () => {
      const svc = JSON.parse(
        await kubectl.run(['get', 'services.serving.knative.dev', 'score', '-n', 'fraud', '-o', 'json']),
      ) as {
        spec: {
          template: {
            metadata: { annotations: Record<string, string> };
            spec: { containers: { image: string }[]; containerConcurrency: number };
          };
        };
      };
      const a = svc.spec.template.metadata.annotations;
      const want: Record<string, string> = {
        'autoscaling.knative.dev/min-scale': '4',
        'autoscaling.knative.dev/max-scale': '6',
        'autoscaling.knative.dev/class': 'hpa.autoscaling.knative.dev',
        'autoscaling.knative.dev/metric': 'cpu',
        'autoscaling.knative.dev/target': '70',
      };
      for (const [key, value] of Object.entries(want))
        expect(a[key] === value, `${key} is ${a[key]}, want ${value}`);
      expect(
        svc.spec.template.spec.containers[0]?.image === images.score,
        `image ${svc.spec.template.spec.containers[0]?.image}`,
      );
      return `containerConcurrency ${svc.spec.template.spec.containerConcurrency}`;
    },
  );

  await check(
    'retrain-hook RBAC: get/patch the score Service only (kubectl auth can-i as its ServiceAccount)',
    async () => {
      const sa = 'system:serviceaccount:fraud:retrain-hook';
      // can-i prints yes/no and exits 0/1; any other failure is an error, not a "no".
      const can = (args: string[], namespace = 'fraud') =>
        kubectl.run(['auth', 'can-i', ...args, '-n', namespace, '--as', sa]).then(
          (out) => out.trim(),
          (e: CommandError) => {
            if (e.stderr.trim() === '') return 'no';
            throw e;
          },
        );
      const allowed = [
        ['get', 'services.serving.knative.dev/score'],
        ['patch', 'services.serving.knative.dev/score'],
      ];
      const denied = [
        ['delete', 'services.serving.knative.dev/score'],
        ['patch', 'services.serving.knative.dev/retrain-hook'],
        ['list', 'services.serving.knative.dev'],
        ['create', 'services.serving.knative.dev'],
        ['get', 'secrets'],
        ['get', 'revisions.serving.knative.dev'],
      ];
      for (const args of allowed)
        expect((await can(args)) === 'yes', `retrain-hook cannot ${args.join(' ')}`);
      for (const args of denied)
        expect((await can(args)).startsWith('no'), `retrain-hook can ${args.join(' ')}`);
      const elsewhere = await can(['get', 'services.serving.knative.dev/score'], 'default');
      expect(elsewhere.startsWith('no'), 'retrain-hook can read a score Service in another namespace');
      return `${allowed.length} allowed, ${denied.length + 1} denied`;
    },
  );

  await check(
    'pod templates pass PodSecurity "restricted" (server-side dry-run of a Pod from each template)',
    async () => {
      const checked: string[] = [];
      const podFrom = (name: string, namespace: string, spec: Record<string, unknown>) =>
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `${name}-podsecurity-check`, namespace },
          spec,
        });
      for (const name of ['score', 'retrain-hook']) {
        const spec = JSON.parse(
          await kubectl.run([
            'get',
            'services.serving.knative.dev',
            name,
            '-n',
            'fraud',
            '-o',
            'jsonpath={.spec.template.spec}',
          ]),
        ) as Record<string, unknown> & { containers: Record<string, unknown>[] };
        // What Knative adds when it makes the revision's Pod: the pod-level fields it owns.
        delete spec.containerConcurrency;
        delete spec.timeoutSeconds;
        // Knative points HTTP probes without a port at the container port.
        for (const container of spec.containers as {
          ports?: { containerPort: number }[];
          readinessProbe?: { httpGet?: { port?: number } };
          livenessProbe?: { httpGet?: { port?: number } };
        }[]) {
          for (const probe of [container.readinessProbe, container.livenessProbe]) {
            if (probe?.httpGet && !probe.httpGet.port)
              probe.httpGet.port = container.ports?.[0]?.containerPort ?? 8080;
          }
        }
        await kubectl.apply(podFrom(name, 'fraud', spec), { dryRun: true });
        checked.push(`fraud/${name}`);
      }
      for (const [kind, name] of [
        ['deployment', 'mlflow'],
        ['statefulset', 'mlflow-postgres'],
      ]) {
        const spec = JSON.parse(
          await kubectl.run([
            'get',
            kind as string,
            name as string,
            '-n',
            'mlflow',
            '-o',
            'jsonpath={.spec.template.spec}',
          ]),
        ) as { volumes?: unknown[] };
        // The StatefulSet controller adds a volume per claim template; do the same.
        const claims = (
          await kubectl.run([
            'get',
            kind as string,
            name as string,
            '-n',
            'mlflow',
            '-o',
            'jsonpath={.spec.volumeClaimTemplates[*].metadata.name}',
          ])
        )
          .split(' ')
          .filter(Boolean);
        spec.volumes = [
          ...(spec.volumes ?? []),
          ...claims.map((claim) => ({
            name: claim,
            persistentVolumeClaim: { claimName: `${claim}-${name}-0` },
          })),
        ];
        await kubectl.apply(podFrom(name as string, 'mlflow', spec), { dryRun: true });
        checked.push(`mlflow/${name}`);
      }
      // And the check can fail: a Pod without the hardening is refused in the same namespace.
      const plain = podFrom('plain', 'fraud', {
        serviceAccountName: 'score',
        containers: [{ name: 'c', image: 'registry.example.com/x:1' }],
      });
      const refusal = await kubectl.apply(plain, { dryRun: true }).then(
        () => '',
        (e: Error) => e.message,
      );
      expect(
        /violates PodSecurity "restricted/.test(refusal),
        `an unhardened Pod was not refused: ${refusal || 'accepted'}`,
      );
      return `${checked.join(', ')}; an unhardened Pod is refused`;
    },
  );

  if (bootstrapped) {
    await check(
      'the KubernetesPodOperator training Pod (airflow/k8s) passes PodSecurity "restricted" and mounts what the bootstrap made',
      async () => {
        // The Airflow provider renders the Pod itself (airflow/k8s/render_training_pod.py), talking to this apiserver.
        const { stdout } = await run(
          path.join(repoRoot, '.venv', 'bin', 'python'),
          [path.join(repoRoot, 'airflow', 'k8s', 'render_training_pod.py')],
          {
            env: {
              ...process.env,
              KUBECONFIG: cp.kubeconfig,
              AIRFLOW_HOME: path.join(work, 'airflow-home'),
              FRAUD_TRAINING_NAMESPACE: 'airflow',
            },
            maxBuffer: 16 * 1024 * 1024,
          },
        );
        const pod = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
          metadata: { name: string; namespace: string };
          spec: {
            volumes?: { persistentVolumeClaim?: { claimName: string } }[];
            containers: {
              env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
            }[];
          };
        };
        expect(pod.metadata.namespace === 'airflow', `rendered into ${pod.metadata.namespace}, not airflow`);
        const claim = pod.spec.volumes?.find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim
          ?.claimName;
        expect(Boolean(claim), 'the training Pod mounts no volume claim');
        await kubectl.run(['get', 'pvc', claim as string, '-n', 'airflow']);
        const secretRefs = pod.spec.containers.flatMap((c) =>
          (c.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : [])),
        );
        expect(secretRefs.length > 0, 'the training Pod reads no Secret (the hook key must come from one)');
        for (const ref of secretRefs) {
          const value = await kubectl.run([
            'get',
            'secret',
            ref.name,
            '-n',
            'airflow',
            '-o',
            `jsonpath={.data.${ref.key}}`,
          ]);
          expect(value !== '', `Secret airflow/${ref.name} has no key ${ref.key}`);
        }
        await kubectl.apply(JSON.stringify(pod), { dryRun: true });
        // PodSecurity "restricted", judged by the apiserver in a namespace that enforces it.
        const strict = 'training-podsecurity-check';
        await kubectl.apply(
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: {
              name: strict,
              labels: {
                'pod-security.kubernetes.io/enforce': 'restricted',
                'pod-security.kubernetes.io/enforce-version': 'latest',
              },
            },
          }),
        );
        await kubectl.apply(
          readFileSync(path.join(repoRoot, 'airflow', 'k8s', 'training-serviceaccount.yaml'), 'utf8').replace(
            'namespace: airflow',
            `namespace: ${strict}`,
          ),
        );
        await kubectl.apply(JSON.stringify({ ...pod, metadata: { ...pod.metadata, namespace: strict } }), {
          dryRun: true,
        });
        return `${pod.metadata.name}: claim ${claim}, Secrets ${secretRefs.map((r) => `${r.name}/${r.key}`).join(', ')}; admitted under "restricted"`;
      },
    );
  }

  await check('the apiserver rejects a Knative Service that breaks the Serving CRD schema', async () => {
    const broken = JSON.stringify({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'broken', namespace: 'fraud' },
      spec: { template: { spec: { containerConcurrency: 'lots', containers: [{ image: 'x' }] } } },
    });
    const error = await kubectl.apply(broken, { dryRun: true }).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(
      /containerConcurrency/.test(error) && /numeric|integer/.test(error),
      `not rejected as expected: ${error || 'accepted'}`,
    );
    return error
      .split('\n')
      .find((l) => l.includes('containerConcurrency'))
      ?.trim();
  });

  // ---- 6. Knative's own validation --------------------------------------------------------------------
  for (const overlay of ['knative/overlays/cpu', 'knative/overlays/requests', 'knative/overlays/grpc']) {
    await check(`knative-validate: ${overlay} (SetDefaults + Validate)`, async () => {
      const yaml = await renderKustomization(kubectl, overlay, {
        'registry.invalid/fraud/score': images.score,
      });
      const child = run(validator, ['-']);
      child.child.stdin?.end(yaml);
      const { stdout } = await child.catch((e: { stdout?: string; message: string }) => {
        throw new Error(e.stdout ?? e.message);
      });
      return stdout.trim().split('\n').at(-1);
    });
  }
  await check("knative-validate rejects every broken fixture with Knative's message", async () => {
    const { stdout } = await run(validator, [
      '-broken',
      path.join(repoRoot, 'tools', 'knative-validate', 'testdata', 'broken'),
    ]).catch((e: { stdout?: string; message: string }) => {
      throw new Error(e.stdout ?? e.message);
    });
    console.log(indent(stdout.trim()));
    return stdout.trim().split('\n').at(-1);
  });

  // ---- 7. teardown --------------------------------------------------------------------------------------
  if (bootstrapped) {
    await check('teardown removes what the bootstrap installed', async () => {
      await teardown([
        '--kubeconfig',
        cp.kubeconfig,
        '--mirror',
        mirrorDir,
        '--skip',
        [...skipComponents.keys()].join(','),
      ]);
      // Deleted, or being deleted: without a controller-manager a namespace stays Terminating, and a CRD
      // is removed by the apiserver once its objects are gone.
      const gone = async (kind: string, name: string, namespace?: string) => {
        const out = await kubectl.run([
          'get',
          kind,
          name,
          ...(namespace ? ['-n', namespace] : []),
          '--ignore-not-found',
          '-o',
          'jsonpath={.metadata.name}:{.metadata.deletionTimestamp}',
        ]);
        return out === '' || !out.endsWith(':');
      };
      expect(await gone('services.serving.knative.dev', 'score', 'fraud'), 'ksvc score still there');
      expect(
        await gone('kafkasources.sources.knative.dev', 'transactions-to-score', 'fraud'),
        'KafkaSource still there',
      );
      expect(await gone('deployment', 'mlflow', 'mlflow'), 'deployment mlflow still there');
      expect(await gone('secret', 'retrain-hook-hmac', 'airflow'), 'airflow/retrain-hook-hmac still there');
      expect(await gone('serviceaccount', 'fraud-training', 'airflow'), 'airflow/fraud-training still there');
      expect(await gone('crd', 'services.serving.knative.dev'), 'Knative Serving CRDs still there');
      expect(
        await gone('crd', 'prometheusrules.monitoring.coreos.com'),
        'prometheus-operator CRDs still there',
      );
    });
  }
} finally {
  await cp.stop();
  rmSync(work, { recursive: true, force: true });
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(chalk.bold('\ntimings (s):'), JSON.stringify(timings));
console.log(`cluster: ${passed} passed, ${failed} failed`);
if (failed > 0) exitCode = 1;
process.exitCode = exitCode;
