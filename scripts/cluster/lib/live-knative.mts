// Knative Serving 1.15 on the live node, for real: the same serving-crds/serving-core/serving-hpa YAML that
// `test-cluster` reads from the knative.dev/serving module (lib/go-module-mirror.mts), with every Knative image
// pointed at the locally built one and tag resolution skipped for the local registry. There is no ingress
// (no Envoy build is reachable): Routes never turn Ready; load goes to the revision's own Service.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildGoModuleMirror } from './go-module-mirror.mts';

type Kubectl = (args: string[], input?: string) => Promise<string>;

/** `gcr.io/knative-releases/knative.dev/serving/cmd/x:v1.15.2` (the mirror's refs) → the local image ref. */
export function swapKnativeImages(yaml: string, koRefs: Record<string, string>): string {
  const missing = new Set<string>();
  const out = yaml.replace(
    /gcr\.io\/knative-releases\/(knative\.dev\/[\w./-]+):v[\w.-]+/g,
    (whole, importPath: string) => {
      const local = koRefs[`ko://${importPath}`];
      if (!local) missing.add(importPath);
      return local ?? whole;
    },
  );
  if (missing.size > 0) throw new Error(`no local image for ${[...missing].join(', ')}`);
  return out;
}

export interface KnativeInstall {
  /** ko:// reference → local image ref (from ensureImages/knativeImageRefs). */
  koRefs: Record<string, string>;
  /** Extra config-deployment keys (queue-sidecar-image, registries-skipping-tag-resolving). */
  configDeployment: Record<string, string>;
  /** Deployments to wait for (default all five; the activator needs cluster DNS to turn Ready). */
  waitFor?: string[];
}

export const knativeDeployments = ['controller', 'webhook', 'autoscaler', 'activator', 'autoscaler-hpa'];

export async function installKnativeServing(kubectl: Kubectl, install: KnativeInstall): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'knative-yaml-'));
  try {
    const report = await buildGoModuleMirror(dir);
    const file = (name: string) => {
      const key = `knative-serving/${name}`;
      if (!report.files[key]) throw new Error(`${key}: ${report.skipped[key] ?? 'not rendered'}`);
      return readFileSync(path.join(dir, key), 'utf8');
    };
    await kubectl(['apply', '--server-side', '-f', '-'], file('serving-crds.yaml'));
    await kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd',
      '-l',
      'knative.dev/crd-install=true',
    ]);
    await kubectl(
      ['apply', '--server-side', '-f', '-'],
      swapKnativeImages(file('serving-core.yaml'), install.koRefs),
    );
    await kubectl([
      'patch',
      'configmap',
      'config-deployment',
      '-n',
      'knative-serving',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ data: install.configDeployment }),
    ]);
    await kubectl(
      ['apply', '--server-side', '-f', '-'],
      swapKnativeImages(file('serving-hpa.yaml'), install.koRefs),
    );
    for (const deployment of install.waitFor ?? knativeDeployments) {
      await kubectl([
        'rollout',
        'status',
        '-n',
        'knative-serving',
        '--timeout=300s',
        `deployment/${deployment}`,
      ]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
