// Builds and caches the binaries of the test control plane: kube-apiserver (from k8s.io/kubernetes through the
// Go module proxy), etcd 3.6 and kwok. No container images and no GitHub releases are needed, only `go`.
//
// Each binary lives in `<cacheDir>/kube/<name>-<version>/bin/<name>` next to a stamp holding the version and a
// hash of the generated go.mod, so a second call with the same pins does nothing, and a pin change rebuilds.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { cacheDir, repoRoot } from '../paths.ts';
import { processAlive } from '../process.ts';
import { which } from './debian.ts';

const run = promisify(execFile);

export interface KubeVersions {
  kubernetes: string;
  etcd: string;
  kwok: string;
}

export interface KubeBinaries {
  kubeApiserver: string;
  etcd: string;
  kwok: string;
  versions: KubeVersions;
}

/** The pins from scripts/cluster/versions.json, the one file that holds every upstream version. */
export function kubeVersions(): KubeVersions {
  const file = path.join(repoRoot, 'scripts', 'cluster', 'versions.json');
  const pins = JSON.parse(readFileSync(file, 'utf8')) as Partial<KubeVersions>;
  for (const key of ['kubernetes', 'etcd', 'kwok'] as const) {
    if (!pins[key]?.match(/^v\d+\.\d+\.\d+$/))
      throw new Error(`${file}: "${key}" must be a version like v1.2.3`);
  }
  return pins as KubeVersions;
}

interface GoBuild {
  name: string;
  version: string;
  /** go.mod of the wrapper module; its hash is part of the stamp. */
  goMod: string;
  /** The main package to build; `-mod=mod` adds what it needs to the wrapper's go.mod. */
  mainPackage: string;
  ldflags?: string;
}

export async function go(args: string[], cwd: string, what: string): Promise<string> {
  try {
    const { stdout } = await run('go', args, {
      cwd,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod -buildvcs=false', GOTOOLCHAIN: 'local' },
      maxBuffer: 256 * 1024 * 1024,
      timeout: 60 * 60_000,
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    const tail = e.stderr?.trim().split('\n').slice(-20).join('\n') ?? e.message;
    throw new Error(`${what}: \`go ${args.join(' ')}\` failed in ${cwd}:\n${tail}`);
  }
}

/** Builds one binary in its own wrapper module unless the stamped binary is already there. */
async function buildCached(spec: GoBuild): Promise<string> {
  const dir = path.join(cacheDir, 'kube', `${spec.name}-${spec.version}`);
  const binary = path.join(dir, 'bin', spec.name);
  const stampFile = path.join(dir, 'stamp');
  const stamp = `${spec.version} ${createHash('sha256')
    .update(spec.goMod)
    .update(spec.ldflags ?? '')
    .digest('hex')}`;
  if (existsSync(binary) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return binary;

  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  writeFileSync(path.join(dir, 'go.mod'), spec.goMod);
  const partial = `${binary}.partial`;
  const args = ['build', '-o', partial];
  if (spec.ldflags) args.push('-ldflags', spec.ldflags);
  args.push(spec.mainPackage);
  await go(args, dir, `building ${spec.name} ${spec.version}`);
  renameSync(partial, binary); // atomic: a half-written binary never carries the final name
  writeFileSync(stampFile, stamp);
  return binary;
}

/** k8s.io/kubernetes replaces its staging modules with ./staging paths; a wrapper maps them to v0.Y.Z releases. */
export async function kubeApiserverGoMod(version: string): Promise<string> {
  const json = await go(
    ['mod', 'download', '-json', `k8s.io/kubernetes@${version}`],
    cacheDir,
    'downloading k8s.io/kubernetes',
  );
  const upstream = readFileSync((JSON.parse(json) as { GoMod: string }).GoMod, 'utf8');
  const goLine = upstream.match(/^go (\S+)$/m)?.[1] ?? '1.24';
  const staging = new Set(
    [...upstream.matchAll(/^\s+(k8s\.io\/[\w.-]+) => \.\/staging\//gm)].map((m) => m[1]),
  );
  // Only modules kubernetes requires (at v0.0.0) need a replacement; sample-* modules are never published.
  const required = [...upstream.matchAll(/^\s+(k8s\.io\/[\w.-]+) v0\.0\.0$/gm)]
    .map((m) => m[1] as string)
    .filter((mod) => staging.has(mod));
  const stagingVersion = version.replace(/^v1\./, 'v0.');
  return [
    'module fraud-platform/kube-apiserver-build',
    '',
    `go ${goLine}`,
    '',
    `require k8s.io/kubernetes ${version}`,
    '',
    'replace (',
    ...required.map((mod) => `\t${mod} => ${mod} ${stagingVersion}`),
    ')',
    '',
  ].join('\n');
}

export function versionLdflags(version: string): string {
  const [major, minor] = version.replace(/^v/, '').split('.');
  // The same variables the Kubernetes release build sets, so /version and kubectl report the real version.
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']
    .flatMap((pkg) => [
      `-X ${pkg}.gitVersion=${version}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    ])
    .join(' ');
}

export async function buildKubeApiserver(version: string): Promise<string> {
  return buildCached({
    name: 'kube-apiserver',
    version,
    goMod: await kubeApiserverGoMod(version),
    mainPackage: 'k8s.io/kubernetes/cmd/kube-apiserver',
    ldflags: `-s -w ${versionLdflags(version)}`,
  });
}

export async function buildEtcd(version: string): Promise<string> {
  // The server module's own ../ replaces are ignored in a dependency; its requires pin the sibling modules.
  const goMod = [
    'module fraud-platform/etcd-build',
    '',
    'go 1.24',
    '',
    `require go.etcd.io/etcd/server/v3 ${version}`,
    '',
  ].join('\n');
  return buildCached({
    name: 'etcd',
    version,
    goMod,
    mainPackage: 'go.etcd.io/etcd/server/v3',
    ldflags: '-s -w',
  });
}

export async function buildKwok(version: string): Promise<string> {
  return buildCached({
    name: 'kwok',
    version,
    goMod: [
      'module fraud-platform/kwok-build',
      '',
      'go 1.24',
      '',
      `require sigs.k8s.io/kwok ${version}`,
      '',
    ].join('\n'),
    mainPackage: 'sigs.k8s.io/kwok/cmd/kwok',
    ldflags: '-s -w',
  });
}

let pending: Promise<KubeBinaries> | undefined;

/**
 * Makes sure kube-apiserver, etcd and kwok for the pinned versions are built and cached, and returns their
 * paths. Builds run one after another (two shared cores), under a file lock so parallel callers build once.
 */
export function ensureKube(): Promise<KubeBinaries> {
  pending ??= ensure().catch((error: unknown) => {
    pending = undefined;
    throw error;
  });
  return pending;
}

async function ensure(): Promise<KubeBinaries> {
  if (!which('go')) {
    throw new Error('building the test control plane needs Go (1.24+) on PATH: install golang and re-run');
  }
  const versions = kubeVersions();
  mkdirSync(path.join(cacheDir, 'kube'), { recursive: true });
  const release = await lock(path.join(cacheDir, 'kube', '.lock'));
  try {
    const etcd = await buildEtcd(versions.etcd);
    const kwok = await buildKwok(versions.kwok);
    const kubeApiserver = await buildKubeApiserver(versions.kubernetes);
    return { kubeApiserver, etcd, kwok, versions };
  } finally {
    release();
  }
}

/** A lock directory (mkdir is atomic); a holder that died more than 90 minutes ago is taken over. */
export async function lock(dir: string): Promise<() => void> {
  const deadline = Date.now() + 90 * 60_000;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'pid'), String(process.pid));
      return () => rmSync(dir, { recursive: true, force: true });
    } catch {
      const holder = Number(readFileOr(path.join(dir, 'pid'), '0'));
      if (holder > 0 && !processAlive(holder)) rmSync(dir, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for the build lock ${dir}`);
      else await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function readFileOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}
