// Reading YAML streams and rendering the project's kustomizations, with the objects they hold.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../lib/repo.mts';
import type { Kubectl } from './kubectl.mts';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** The objects of a YAML stream (comments and empty documents dropped); throws naming a broken document. */
export function objectsOf(yaml: string, source: string): ObjectRef[] {
  const refs: ObjectRef[] = [];
  for (const [index, doc] of parseAllDocuments(yaml).entries()) {
    if (doc.errors.length > 0)
      throw new Error(`${source}: YAML document ${index + 1}: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Record<string, unknown> | null;
    if (!value) continue;
    const metadata = (value.metadata ?? {}) as { name?: string; namespace?: string };
    if (typeof value.kind !== 'string' || typeof value.apiVersion !== 'string' || !metadata.name) {
      throw new Error(
        `${source}: YAML document ${index + 1} is not a Kubernetes object (apiVersion, kind, metadata.name)`,
      );
    }
    refs.push({
      apiVersion: value.apiVersion,
      kind: value.kind,
      name: metadata.name,
      namespace: metadata.namespace,
    });
  }
  return refs;
}

const q = (value: string | undefined) => JSON.stringify(value ?? '');

/** `kubectl kustomize` of a folder of this repository, optionally with image overrides. */
export async function renderKustomization(
  kubectl: Kubectl,
  folder: string,
  images: Record<string, string> = {},
): Promise<string> {
  const target = path.join(repoRoot, folder);
  if (Object.keys(images).length === 0) return kubectl.run(['kustomize', target]);
  // Kustomize only takes relative paths to bases: a throw-away kustomization next to nothing, pointing back.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fraud-kustomize-'));
  try {
    const entries = Object.entries(images).map(([name, reference]) => {
      const digest = reference.match(/^(.+)@(sha256:[0-9a-f]{64})$/);
      // JSON strings are YAML strings: a tag such as 1 or 1.10 must not turn into a number.
      if (digest) return `  - name: ${q(name)}\n    newName: ${q(digest[1])}\n    digest: ${q(digest[2])}`;
      const tag = reference.match(/^(.+):([\w][\w.-]{0,127})$/);
      if (tag && !tag[1]?.endsWith('/') && !tag[2]?.includes('/'))
        return `  - name: ${q(name)}\n    newName: ${q(tag[1])}\n    newTag: ${q(tag[2])}`;
      throw new Error(
        `image reference "${reference}" needs a tag or a digest (registry/name:tag or registry/name@sha256:...)`,
      );
    });
    writeFileSync(
      path.join(dir, 'kustomization.yaml'),
      `resources:\n  - ${path.relative(dir, target)}\nimages:\n${entries.join('\n')}\n`,
    );
    return await kubectl.run(['kustomize', dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
