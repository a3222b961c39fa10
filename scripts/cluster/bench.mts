#!/usr/bin/env -S npx tsx
// Times of the test control plane, each against a baseline measured in the same run (the machine is
// shared, so only the ratios travel):
//   - control-plane start (etcd + kube-apiserver ready) vs etcd alone
//   - server-side apply of the score overlay (17 objects) and of the Knative Serving CRDs (12, until
//     Established) vs one ConfigMap
// Bounded: `--runs` (default 3) control planes, each stopped before the next.
//
//   npx tsx scripts/cluster/bench.mts [--runs 3]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureKube } from '@fraud/testkit/install/kube';
import { startControlPlane } from '@fraud/testkit/kube';
import { freePort } from '@fraud/testkit/ports';
import { startProcess, waitUntil } from '@fraud/testkit/process';
import { minimist } from 'zx';
import { parseScriptArgs } from '../lib/options.mts';
import { buildGoModuleMirror } from './lib/go-module-mirror.mts';
import { Kubectl } from './lib/kubectl.mts';
import { renderKustomization } from './lib/manifests.mts';

const argv = parseScriptArgs(
  minimist,
  process.argv.slice(2),
  ['runs'],
  'usage: npx tsx scripts/cluster/bench.mts [--runs N]   (N control planes, 1..10, default 3)',
);
const runs = Number(argv.runs ?? 3);
if (!Number.isInteger(runs) || runs < 1 || runs > 10) {
  console.error('--runs must be a whole number from 1 to 10');
  process.exit(2);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}

const binaries = await ensureKube();
const work = mkdtempSync(path.join(os.tmpdir(), 'fraud-bench-'));
await buildGoModuleMirror(path.join(work, 'mirror'));
const servingCrds = readFileSync(path.join(work, 'mirror', 'knative-serving', 'serving-crds.yaml'), 'utf8');

const samples: Record<string, number[]> = {};
const add = (key: string, value: number) => {
  samples[key] = [...(samples[key] ?? []), value];
};

for (let i = 0; i < runs; i++) {
  // baseline: etcd alone, start to healthy
  const etcdPort = await freePort();
  const peerPort = await freePort();
  const dir = path.join(work, `etcd-${i}`);
  let etcd: ReturnType<typeof startProcess> | undefined;
  add(
    'etcd alone ready',
    await seconds(async () => {
      etcd = startProcess({
        name: 'etcd',
        command: binaries.etcd,
        logDir: dir,
        args: [
          `--data-dir=${dir}/data`,
          `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
          `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
          `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
          '--unsafe-no-fsync',
        ],
      });
      await waitUntil(
        etcd,
        'etcd',
        async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok,
        30_000,
        20,
      );
    }),
  );
  await etcd?.stop();

  let cp: Awaited<ReturnType<typeof startControlPlane>> | undefined;
  add(
    'control plane ready',
    await seconds(async () => {
      cp = await startControlPlane();
    }),
  );
  if (!cp) throw new Error('control plane did not start');
  try {
    const kubectl = new Kubectl({ kubeconfig: cp.kubeconfig });
    const configMap = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `bench-${i}`, namespace: 'default' },
      data: { a: 'b' },
    });
    add('apply 1 ConfigMap', await seconds(() => kubectl.apply(configMap)));
    add(
      'apply + Established 12 Serving CRDs',
      await seconds(async () => {
        await kubectl.apply(servingCrds);
        await kubectl.run(['wait', '--for=condition=Established', '--all', 'crd', '--timeout=60s']);
      }),
    );
    const overlay = await renderKustomization(kubectl, 'knative/overlays/cpu', {
      'registry.invalid/fraud/score': 'registry.example.com/score:1',
    });
    // KafkaSource/KafkaSink CRDs are not obtainable; the overlay minus those kinds is what is timed.
    const withoutKafka = overlay
      .split(/^---$/m)
      .filter((doc) => !/^kind: Kafka(Source|Sink)$/m.test(doc))
      .join('---');
    add('apply score overlay (14 objects)', await seconds(() => kubectl.apply(withoutKafka)));
  } finally {
    await cp.stop();
  }
}
rmSync(work, { recursive: true, force: true });

const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)])) as Record<
  string,
  number
>;
const ratio = (a: string, b: string) => ((m[a] ?? Number.NaN) / (m[b] ?? Number.NaN)).toFixed(1);
console.log(`median of ${runs} runs (seconds), load average ${os.loadavg()[0]?.toFixed(1)}`);
for (const [key, value] of Object.entries(m)) console.log(`  ${key.padEnd(40)} ${value.toFixed(3)}`);
console.log('ratios');
console.log(
  `  control plane ready / etcd alone          ${ratio('control plane ready', 'etcd alone ready')}x`,
);
console.log(
  `  12 Serving CRDs / 1 ConfigMap             ${ratio('apply + Established 12 Serving CRDs', 'apply 1 ConfigMap')}x`,
);
console.log(
  `  score overlay / 1 ConfigMap               ${ratio('apply score overlay (14 objects)', 'apply 1 ConfigMap')}x`,
);
