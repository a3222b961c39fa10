// The pod sandbox ("pause") image and a tiny HTTP probe image, built locally because no registry is reachable.
// One static Go binary plays both parts: with no argument it sleeps until SIGTERM/SIGINT (the sandbox's only
// job: hold the pod's namespaces); `probe-http :8080` serves `ok` on every path (for network tests).
// The OCI layout is written by hand (one layer, one config, one manifest) and imported with ctr.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { go } from '../install/kube.ts';
import { cacheDir } from '../paths.ts';

const run = promisify(execFile);

export const pauseImage = 'fraud.local/pause:v1';

const source = `package main

import (
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "probe-http" {
		http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
		go func() { _ = http.ListenAndServe(os.Args[2], nil) }()
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
`;

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Builds (once, cached by source hash) an OCI image archive holding the pause/probe binary; returns its path. */
export async function pauseImageArchive(): Promise<string> {
  const dir = path.join(cacheDir, 'kube', `pause-${sha256(source).slice(0, 12)}`);
  const archive = path.join(dir, 'pause-oci.tar');
  if (existsSync(archive)) return archive;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  writeFileSync(path.join(dir, 'src', 'go.mod'), 'module fraud-platform/pause\n\ngo 1.24\n');
  writeFileSync(path.join(dir, 'src', 'main.go'), source);
  const rootfs = path.join(dir, 'rootfs');
  mkdirSync(rootfs);
  await go(
    ['build', '-o', path.join(rootfs, 'pause'), '-ldflags', '-s -w', '.'],
    path.join(dir, 'src'),
    'building pause',
  );

  const layout = path.join(dir, 'layout');
  const blobs = path.join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const layerFile = path.join(dir, 'layer.tar');
  // Fixed owner and mtime so the same source always gives the same layer digest.
  await run('tar', [
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '-C',
    rootfs,
    '-cf',
    layerFile,
    'pause',
  ]);
  const layer = readFileSync(layerFile);
  const layerDigest = sha256(layer);
  writeFileSync(path.join(blobs, layerDigest), layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/pause'], User: '65535:65535' },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
    }),
  );
  writeFileSync(path.join(blobs, sha256(config)), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${sha256(config)}`,
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: `sha256:${layerDigest}`,
          size: layer.length,
        },
      ],
    }),
  );
  writeFileSync(path.join(blobs, sha256(manifest)), manifest);
  writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${sha256(manifest)}`,
          size: manifest.length,
          annotations: { 'io.containerd.image.name': pauseImage, 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
    }),
  );
  writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await run('tar', ['-C', layout, '-cf', `${archive}.partial`, '.']);
  renameSync(`${archive}.partial`, archive);
  return archive;
}
