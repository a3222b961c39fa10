// Builds and caches what a real Kubernetes node needs besides the control plane of install/kube.ts:
// kube-controller-manager, kube-scheduler, kubelet and kube-proxy (from the same k8s.io/kubernetes wrapper
// module as kube-apiserver, so Go's build cache shares every package they have in common), containerd 2.x
// with its runc shim and ctr, and Debian's runc, CNI plugins, nft and conntrack.
//
// Each group lives in `<cacheDir>/kube/<name>-<version>/bin/` next to a stamp of the version and go.mod hash.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { cacheDir, repoRoot } from '../paths.ts';
import { which } from './debian.ts';
import { ensureKube, go, type KubeBinaries, kubeApiserverGoMod, lock, versionLdflags } from './kube.ts';

const run = promisify(execFile);

export interface NodeBinaries extends KubeBinaries {
  kubeControllerManager: string;
  kubeScheduler: string;
  kubelet: string;
  kubeProxy: string;
  containerd: string;
  containerdShim: string;
  ctr: string;
  runc: string;
  /** Directory holding the CNI plugins bridge, host-local and loopback. */
  cniBinDir: string;
  nft: string;
  containerdVersion: string;
  runcVersion: string;
}

interface MultiBuild {
  name: string;
  version: string;
  goMod: string;
  packages: string[];
  ldflags: string;
  tags?: string[];
}

/** Builds several main packages of one wrapper module into one bin dir, unless the stamped dir is there. */
async function buildGroup(spec: MultiBuild): Promise<string> {
  const dir = path.join(cacheDir, 'kube', `${spec.name}-${spec.version}`);
  const bin = path.join(dir, 'bin');
  const stampFile = path.join(dir, 'stamp');
  const stamp = `${spec.version} ${createHash('sha256')
    .update(spec.goMod)
    .update(spec.ldflags)
    .update(spec.packages.join(' '))
    .update((spec.tags ?? []).join(','))
    .digest('hex')}`;
  if (existsSync(bin) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return bin;

  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'go.mod'), spec.goMod);
  const partial = `${bin}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial);
  const args = ['build', '-o', `${partial}/`, '-ldflags', spec.ldflags];
  if (spec.tags?.length) args.push('-tags', spec.tags.join(','));
  args.push(...spec.packages);
  await go(args, dir, `building ${spec.name} ${spec.version}`);
  rmSync(bin, { recursive: true, force: true });
  renameSync(partial, bin); // a half-built group never carries the final name
  writeFileSync(stampFile, stamp);
  return bin;
}

export async function buildKubeNode(version: string): Promise<string> {
  const goMod = (await kubeApiserverGoMod(version)).replace(
    'module fraud-platform/kube-apiserver-build',
    'module fraud-platform/kube-node-build',
  );
  return buildGroup({
    name: 'kube-node',
    version,
    goMod,
    packages: ['kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'].map(
      (cmd) => `k8s.io/kubernetes/cmd/${cmd}`,
    ),
    ldflags: `-s -w ${versionLdflags(version)}`,
  });
}

export async function buildContainerd(version: string): Promise<string> {
  const goMod = [
    'module fraud-platform/containerd-build',
    '',
    'go 1.24',
    '',
    `require github.com/containerd/containerd/v2 ${version}`,
    '',
  ].join('\n');
  return buildGroup({
    name: 'containerd',
    version,
    goMod,
    packages: ['containerd', 'containerd-shim-runc-v2', 'ctr'].map(
      (cmd) => `github.com/containerd/containerd/v2/cmd/${cmd}`,
    ),
    // The snapshotters that need cgo or kernel features this node does not use are left out.
    tags: ['no_btrfs', 'no_devmapper', 'no_zfs', 'no_aufs'],
    ldflags: `-s -w -X github.com/containerd/containerd/v2/version.Version=${version}`,
  });
}

/** The Debian packages a node needs at run time, by the binary each ships. */
const debianNodePackages = {
  runc: { binary: '/usr/sbin/runc', pkg: 'runc' },
  cni: { binary: '/usr/lib/cni/bridge', pkg: 'containernetworking-plugins' },
  nft: { binary: '/usr/sbin/nft', pkg: 'nftables' },
  conntrack: { binary: '/usr/sbin/conntrack', pkg: 'conntrack' },
} as const;

async function ensureDebianNodePackages(): Promise<void> {
  const missing = Object.values(debianNodePackages).filter((p) => !existsSync(p.binary));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !which('apt-get')) {
    throw new Error(
      `a real node needs ${missing.map((p) => p.pkg).join(', ')} (Debian packages) and root: install them and re-run as root`,
    );
  }
  // policy-rc.d answering 101 keeps maintainer scripts from starting any daemon.
  const script = `set -eu
created=""
[ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; created=1; }
trap '[ -n "$created" ] && rm -f /usr/sbin/policy-rc.d; true' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" || { apt-get update && apt-get install -y --no-install-recommends "$@"; }`;
  try {
    await run(
      'flock',
      [
        '-w',
        '900',
        '/tmp/fraud-debian-tools.lock',
        'sh',
        '-c',
        script,
        'node-packages',
        ...missing.map((p) => p.pkg),
      ],
      { maxBuffer: 64 * 1024 * 1024, timeout: 20 * 60_000 },
    );
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(
      `apt-get install ${missing.map((p) => p.pkg).join(' ')} failed: ${e.stderr ?? e.message}`,
    );
  }
}

function containerdPin(): string {
  const file = path.join(repoRoot, 'scripts', 'cluster', 'versions.json');
  const pin = (JSON.parse(readFileSync(file, 'utf8')) as { containerd?: string }).containerd;
  if (!pin?.match(/^v2\.\d+\.\d+$/)) throw new Error(`${file}: "containerd" must be a version like v2.4.2`);
  return pin;
}

let pending: Promise<NodeBinaries> | undefined;

/** Makes sure every binary of a real single-node cluster is built or installed; returns their paths. */
export function ensureNode(): Promise<NodeBinaries> {
  pending ??= ensure().catch((error: unknown) => {
    pending = undefined;
    throw error;
  });
  return pending;
}

async function ensure(): Promise<NodeBinaries> {
  await ensureDebianNodePackages();
  const control = await ensureKube(); // takes and releases the build lock itself
  const containerdVersion = containerdPin();
  const release = await lock(path.join(cacheDir, 'kube', '.lock'));
  try {
    const kubeBin = await buildKubeNode(control.versions.kubernetes);
    const containerdBin = await buildContainerd(containerdVersion);
    const { stdout } = await run(debianNodePackages.runc.binary, ['--version']);
    return {
      ...control,
      kubeControllerManager: path.join(kubeBin, 'kube-controller-manager'),
      kubeScheduler: path.join(kubeBin, 'kube-scheduler'),
      kubelet: path.join(kubeBin, 'kubelet'),
      kubeProxy: path.join(kubeBin, 'kube-proxy'),
      containerd: path.join(containerdBin, 'containerd'),
      containerdShim: path.join(containerdBin, 'containerd-shim-runc-v2'),
      ctr: path.join(containerdBin, 'ctr'),
      runc: debianNodePackages.runc.binary,
      cniBinDir: path.dirname(debianNodePackages.cni.binary),
      nft: debianNodePackages.nft.binary,
      containerdVersion,
      runcVersion: stdout.match(/runc version (\S+)/)?.[1] ?? 'unknown',
    };
  } finally {
    release();
  }
}
