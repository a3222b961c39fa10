// The local images: valid OCI archives (every digest and size checked from the bytes), reproducible builds,
// and the score image really running under runc as uid 1000 on a read-only root inside a network namespace
// this test makes (all traffic stays in it).
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
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
import { gunzipSync } from 'node:zlib';
import test from 'ava';
import fc from 'fast-check';
import { which } from '../src/install/debian.ts';
import {
  ensureImages,
  entrypointFromStartScript,
  type ImageName,
  knativeConfigDeployment,
  knativeImageRefs,
  type LocalImage,
} from '../src/install/images.ts';

const run = promisify(execFile);
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const checked: ImageName[] = [
  'score',
  'retrain-hook',
  'knative-queue',
  'knative-controller',
  'kube-state-metrics',
];

let images: Record<ImageName, LocalImage>;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'images-test-'));

test.before(async () => {
  images = await ensureImages({ only: checked });
});
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

interface Unpacked {
  index: {
    manifests: { digest: string; size: number; platform: unknown; annotations: Record<string, string> }[];
  };
  manifest: {
    config: { digest: string; size: number };
    layers: { digest: string; size: number; mediaType: string }[];
  };
  config: {
    architecture: string;
    os: string;
    config: { User: string; Entrypoint: string[] };
    rootfs: { diff_ids: string[] };
  };
  blob: (digest: string) => Buffer;
}

async function unpack(archive: string): Promise<Unpacked> {
  const dir = mkdtempSync(path.join(scratch, 'layout-'));
  await run('tar', ['-xf', archive, '-C', dir]);
  const blob = (digest: string) =>
    readFileSync(path.join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, '')));
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as Unpacked['index'];
  const entry = index.manifests[0];
  if (!entry) throw new Error(`${archive}: index.json lists no manifest`);
  const manifest = JSON.parse(blob(entry.digest).toString()) as Unpacked['manifest'];
  const config = JSON.parse(blob(manifest.config.digest).toString()) as Unpacked['config'];
  return { index, manifest, config, blob };
}

for (const name of checked) {
  test.serial(`${name}: the archive is an OCI layout whose digests and sizes match its bytes`, async (t) => {
    const image = images[name];
    const oci = await unpack(image.archive);
    t.is(oci.index.manifests.length, 1);
    const entry = oci.index.manifests[0] as Unpacked['index']['manifests'][number];
    const manifestBytes = oci.blob(entry.digest);
    t.is(sha256(manifestBytes), entry.digest);
    t.is(manifestBytes.length, entry.size);
    t.is(entry.digest, image.digest);
    t.deepEqual(entry.platform, { architecture: 'amd64', os: 'linux' });
    t.is(entry.annotations['io.containerd.image.name'], image.ref);
    t.is(image.ref.split(':').at(-1), image.digest.slice('sha256:'.length, 'sha256:'.length + 12));
    const configBytes = oci.blob(oci.manifest.config.digest);
    t.is(sha256(configBytes), oci.manifest.config.digest);
    t.is(configBytes.length, oci.manifest.config.size);
    t.is(oci.config.architecture, 'amd64');
    t.is(oci.config.os, 'linux');
    t.is(oci.manifest.layers.length, oci.config.rootfs.diff_ids.length);
    oci.manifest.layers.forEach((layer, i) => {
      const bytes = oci.blob(layer.digest);
      t.is(sha256(bytes), layer.digest, `layer ${i} digest`);
      t.is(bytes.length, layer.size, `layer ${i} size`);
      t.is(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
      t.is(sha256(gunzipSync(bytes)), oci.config.rootfs.diff_ids[i] ?? 'missing', `layer ${i} diff id`);
    });
    t.not(oci.config.config.User.split(':')[0], '0', 'never root');
  });
}

test.serial(
  'Knative settings name the local queue-proxy and skip tag resolution for the local registry',
  (t) => {
    const config = knativeConfigDeployment(images['knative-queue']);
    t.is(config['queue-sidecar-image'], images['knative-queue'].ref);
    const registry = images['knative-queue'].ref.split('/')[0] as string;
    t.true(config['registries-skipping-tag-resolving']?.split(',').includes(registry));
    const refs = knativeImageRefs(images);
    t.is(refs['ko://knative.dev/serving/cmd/controller'], images['knative-controller'].ref);
    t.is(refs['ko://knative.dev/serving/cmd/queue'], images['knative-queue'].ref);
    t.is(Object.keys(refs).length, 2, 'only the Knative images carry a ko:// reference');
  },
);

test.serial('a second call with the same inputs returns the cached archives untouched', async (t) => {
  const before = statSync(images.score.archive).mtimeMs;
  const again = await ensureImages({ only: ['score', 'knative-queue'] });
  t.deepEqual(again.score, images.score);
  t.deepEqual(again['knative-queue'], images['knative-queue']);
  t.is(statSync(images.score.archive).mtimeMs, before, 'not rewritten');
});

test('only `node [flags] <file>.js` start scripts become an entrypoint; anything else is refused by name', (t) => {
  t.deepEqual(entrypointFromStartScript('node dist/index.js', 'x'), ['/usr/local/bin/node', 'dist/index.js']);
  t.deepEqual(entrypointFromStartScript('node --enable-source-maps dist/index.js', 'x'), [
    '/usr/local/bin/node',
    '--enable-source-maps',
    'dist/index.js',
  ]);
  for (const bad of [undefined, '', 'tsx src/index.ts', 'node dist/index.js && rm -rf /', 'npm run serve']) {
    t.throws(() => entrypointFromStartScript(bad, 'functions/x/package.json'), {
      message: /functions\/x\/package\.json: scripts\.start must be/,
    });
  }
  fc.assert(
    fc.property(fc.string(), (start) => {
      try {
        const entrypoint = entrypointFromStartScript(start, 'p');
        // Whatever is accepted runs node on one .js file, with no shell in between.
        return entrypoint[0] === '/usr/local/bin/node' && /\.m?js$/.test(entrypoint.at(-1) ?? '');
      } catch (error) {
        return /scripts\.start must be/.test((error as Error).message);
      }
    }),
  );
});

// --- runc ---------------------------------------------------------------------------------------------

const runcRoot = '/run/fraud-images-test';
const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Containers and namespaces of an earlier run that was killed before its cleanup: remove them. */
async function removeStale(): Promise<void> {
  for (const entry of existsSync(runcRoot) ? readdirSync(runcRoot) : []) {
    const pid = Number(entry);
    if (!pid || isAlive(pid)) continue;
    await cleanup(String(pid));
  }
}

async function cleanup(owner: string): Promise<void> {
  const root = path.join(runcRoot, owner);
  if (existsSync(root)) {
    const { stdout } = await run('runc', ['--root', root, 'list', '--quiet']).catch(() => ({ stdout: '' }));
    for (const id of stdout.split('\n').filter(Boolean)) {
      await run('runc', ['--root', root, 'delete', '--force', id]).catch(() => undefined);
    }
    rmSync(root, { recursive: true, force: true });
  }
  await run('ip', ['netns', 'delete', `fraud-images-${owner}`]).catch(() => undefined);
}

/** An OCI runtime bundle for runc: the image's layers unpacked in order, its user, entrypoint and env. */
async function bundle(image: LocalImage, netns: string, env: string[]): Promise<string> {
  const oci = await unpack(image.archive);
  const dir = mkdtempSync(path.join(scratch, 'bundle-'));
  const rootfs = path.join(dir, 'rootfs');
  mkdirSync(rootfs);
  for (const layer of oci.manifest.layers) {
    const file = path.join(dir, 'layer.tgz');
    writeFileSync(file, oci.blob(layer.digest));
    await run('tar', ['-xzf', file, '-C', rootfs]);
    rmSync(file);
  }
  const full = JSON.parse(oci.blob(oci.manifest.config.digest).toString()) as {
    config: { User: string; Entrypoint: string[]; Env: string[]; WorkingDir: string };
  };
  const [uid, gid] = full.config.User.split(':').map(Number);
  const spec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid, gid },
      args: full.config.Entrypoint,
      env: [...full.config.Env, ...env],
      cwd: full.config.WorkingDir,
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      noNewPrivileges: true,
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 }],
    },
    // As the Knative Service declares: read-only root, /tmp an emptyDir (a tmpfs here).
    root: { path: 'rootfs', readonly: true },
    hostname: 'score',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      {
        destination: '/tmp',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777', 'size=256m'],
      },
    ],
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'network', path: `/var/run/netns/${netns}` },
      ],
      maskedPaths: ['/proc/kcore', '/sys/firmware'],
      readonlyPaths: ['/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

test.serial(
  'score runs under runc as uid 1000 on a read-only root and answers /health/readiness',
  async (t) => {
    for (const tool of ['runc', 'ip', 'curl']) {
      if (!which(tool)) t.fail(`${tool} is needed (Debian packages runc, iproute2, curl)`);
    }
    await removeStale();
    const owner = String(process.pid);
    const root = path.join(runcRoot, owner);
    const netns = `fraud-images-${owner}`;
    const id = 'score';
    mkdirSync(root, { recursive: true });
    await run('ip', ['netns', 'add', netns]);
    let logs = '';
    try {
      await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      const dir = await bundle(images.score, netns, ['PORT=8080', 'HOST=0.0.0.0']);
      const container = spawn('runc', ['--root', root, 'run', '--bundle', dir, id], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      container.stdout.on('data', (d: Buffer) => {
        logs += d.toString();
      });
      container.stderr.on('data', (d: Buffer) => {
        logs += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => container.on('exit', resolve));

      // Loopback of the test's own network namespace: the only address any request goes to.
      let readiness: { ready?: boolean } | undefined;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && container.exitCode === null) {
        const answer = await run('ip', [
          'netns',
          'exec',
          netns,
          'curl',
          '-sf',
          '-m',
          '2',
          'http://127.0.0.1:8080/health/readiness',
        ]).catch(() => undefined);
        if (answer) {
          readiness = JSON.parse(answer.stdout) as { ready?: boolean };
          if (readiness.ready) break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      t.true(readiness?.ready, `score never became ready; its output:\n${logs}`);

      const state = JSON.parse((await run('runc', ['--root', root, 'state', id])).stdout) as { pid: number };
      const status = readFileSync(`/proc/${state.pid}/status`, 'utf8');
      t.regex(status, /^Uid:\t1000\t1000\t1000\t1000$/m);
      t.regex(status, /^Gid:\t1000\t1000\t1000\t1000$/m);
      t.is(
        readFileSync(`/proc/${state.pid}/comm`, 'utf8').trim(),
        'node',
        'node itself is the container process',
      );

      const write = (file: string) =>
        run('runc', [
          '--root',
          root,
          'exec',
          id,
          '/usr/local/bin/node',
          '-e',
          `require('fs').writeFileSync('${file}', 'x')`,
        ])
          .then(() => 'written')
          .catch((e: { stderr?: string }) => e.stderr ?? 'failed');
      t.regex(await write('/workspace/x'), /EROFS/, 'the root filesystem is read-only');
      t.is(await write('/tmp/x'), 'written', '/tmp (the emptyDir) is writable');

      await run('runc', ['--root', root, 'kill', id, 'TERM']);
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
      t.not(code, 'timeout', `score did not stop within 15 s of SIGTERM; output:\n${logs}`);
    } finally {
      await cleanup(owner);
    }
    t.false(existsSync(root));
    const { stdout } = await run('ip', ['netns', 'list']);
    t.false(stdout.includes(netns), 'the network namespace is gone');
  },
);

test.serial(
  'same inputs give the same image digests (function image and Go image, rebuilt from scratch)',
  async (t) => {
    const outDir = mkdtempSync(path.join(scratch, 'rebuild-'));
    const again = await ensureImages({ only: ['retrain-hook', 'knative-queue'], force: true, outDir });
    t.is(again['retrain-hook'].digest, images['retrain-hook'].digest);
    t.is(again['knative-queue'].digest, images['knative-queue'].digest);
    t.not(
      again['retrain-hook'].archive,
      images['retrain-hook'].archive,
      'really rebuilt, into the other folder',
    );
    t.is(
      sha256(readFileSync(again['retrain-hook'].archive)),
      sha256(readFileSync(images['retrain-hook'].archive)),
      'byte-identical archives',
    );
  },
);
