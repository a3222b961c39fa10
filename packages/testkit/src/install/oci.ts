// Writes OCI image archives (an OCI image layout in a tar) without Docker or a registry: each layer is a
// directory tarred by GNU tar with reproducible flags and gzipped by zlib, so the same inputs give the same
// bytes and the same digests. containerd imports the archives (`ctr images import`), runc runs their rootfs.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export const mediaTypes = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** containerd names an imported image after this index annotation. */
export const containerdNameAnnotation = 'io.containerd.image.name';
export const refNameAnnotation = 'org.opencontainers.image.ref.name';

/** GNU tar flags that make an archive depend on file names, contents and modes only. */
export const reproducibleTarFlags = [
  '--sort=name',
  '--mtime=@0',
  '--owner=0',
  '--group=0',
  '--numeric-owner',
  '--format=gnu',
  '--no-acls',
  '--no-xattrs',
  '--no-selinux',
];

/** The runtime part of an OCI image config (what the image runs and as whom). */
export interface RuntimeConfig {
  User: string;
  Entrypoint: string[];
  Cmd?: string[];
  Env: string[];
  WorkingDir: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface WrittenImage {
  /** sha256:… of the manifest: what containerd and the kubelet report as the image id's repo digest. */
  digest: string;
  config: Descriptor;
  layers: Descriptor[];
  archive: string;
}

function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

/** Tars `dir` (as the image root) into a gzipped layer blob under `blobs`; returns its descriptor and diff id. */
async function writeLayer(dir: string, blobs: string): Promise<{ descriptor: Descriptor; diffId: string }> {
  const partial = path.join(blobs, `layer-${process.pid}-${Date.now()}.partial`);
  const tar = spawn('tar', [...reproducibleTarFlags, '-C', dir, '-cf', '-', '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  tar.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number>((resolve) => tar.on('close', (code) => resolve(code ?? 1)));
  const diff = createHash('sha256');
  const compressed = createHash('sha256');
  // level 6 and zlib's fixed gzip header (mtime 0): the same tar always gives the same blob.
  await pipeline(
    tar.stdout,
    hashing(diff),
    createGzip({ level: 6 }),
    hashing(compressed),
    createWriteStream(partial),
  );
  const code = await exited;
  if (code !== 0) throw new Error(`tar of ${dir} failed (exit ${code}): ${stderr.trim()}`);
  const hex = compressed.digest('hex');
  renameSync(partial, path.join(blobs, hex));
  return {
    descriptor: {
      mediaType: mediaTypes.layer,
      digest: `sha256:${hex}`,
      size: statSync(path.join(blobs, hex)).size,
    },
    diffId: `sha256:${diff.digest('hex')}`,
  };
}

function writeBlob(blobs: string, mediaType: string, value: unknown): Descriptor {
  const bytes = Buffer.from(JSON.stringify(value));
  const hex = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(path.join(blobs, hex), bytes);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}

async function tarDirectory(dir: string, out: string): Promise<void> {
  const tar = spawn(
    'tar',
    [...reproducibleTarFlags, '-C', dir, '-cf', out, 'oci-layout', 'index.json', 'blobs'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  tar.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number>((resolve) => tar.on('close', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`tar of the OCI layout ${dir} failed (exit ${code}): ${stderr.trim()}`);
}

/**
 * Writes `archive`: an OCI layout with one linux/amd64 image made of `layerDirs` (bottom first) and `runtime`.
 * `name(digest)` gives the image's full reference once the manifest digest is known (it goes into index.json
 * only, so it cannot change the digest).
 */
export async function writeOciArchive(options: {
  layerDirs: string[];
  runtime: RuntimeConfig;
  name: (digest: string) => string;
  archive: string;
}): Promise<WrittenImage> {
  const layout = `${options.archive}.layout-${process.pid}`;
  rmSync(layout, { recursive: true, force: true });
  const blobs = path.join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  try {
    const layers: Descriptor[] = [];
    const diffIds: string[] = [];
    for (const dir of options.layerDirs) {
      const { descriptor, diffId } = await writeLayer(dir, blobs);
      layers.push(descriptor);
      diffIds.push(diffId);
    }
    // No `created` and no history timestamps: they would make every build differ.
    const config = writeBlob(blobs, mediaTypes.config, {
      architecture: 'amd64',
      os: 'linux',
      config: options.runtime,
      rootfs: { type: 'layers', diff_ids: diffIds },
    });
    const manifest = writeBlob(blobs, mediaTypes.manifest, {
      schemaVersion: 2,
      mediaType: mediaTypes.manifest,
      config,
      layers,
    });
    const name = options.name(manifest.digest);
    const tag = name.slice(name.lastIndexOf(':') + 1);
    writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      path.join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: mediaTypes.index,
        manifests: [
          {
            ...manifest,
            platform: { architecture: 'amd64', os: 'linux' },
            annotations: { [containerdNameAnnotation]: name, [refNameAnnotation]: tag },
          },
        ],
      }),
    );
    const partial = `${options.archive}.partial-${process.pid}`;
    await tarDirectory(layout, partial);
    renameSync(partial, options.archive); // atomic: a half-written archive never carries the final name
    return { digest: manifest.digest, config, layers, archive: options.archive };
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
}
