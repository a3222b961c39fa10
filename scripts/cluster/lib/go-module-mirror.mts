// Renders the upstream manifests that ship inside Go modules (fetched through the Go module proxy, the only
// upstream source reachable offline here) into the mirror layout of lib/upstream.mts.
//
// Knative Serving's release YAMLs are concatenations of its config/ folders with `ko://` image references
// resolved at release time. We concatenate the same folders and point the images at the release registry
// path with the version tag; on a real cluster use a mirror built `--from releases` (digest-pinned images).
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { upstreamCharts, upstreamFiles } from './upstream.mts';
import { loadVersions } from './versions.mts';

const run = promisify(execFile);

export interface MirrorReport {
  /** mirror path → where it came from */
  files: Record<string, string>;
  /** mirror path → why it is not in the mirror */
  skipped: Record<string, string>;
}

async function moduleDir(moduleAtVersion: string): Promise<string> {
  try {
    const { stdout } = await run('go', ['mod', 'download', '-json', moduleAtVersion], {
      cwd: os.tmpdir(),
      env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
      maxBuffer: 16 * 1024 * 1024,
    });
    return (JSON.parse(stdout) as { Dir: string }).Dir;
  } catch (error) {
    const e = error as { stdout?: string; message: string };
    let reason = e.stdout ?? e.message;
    try {
      reason = (JSON.parse(e.stdout ?? '') as { Error?: string }).Error ?? reason;
    } catch {
      // not JSON
    }
    throw new Error(`go mod download ${moduleAtVersion}: ${reason.trim().split('\n')[0]}`);
  }
}

/** The module version a module's go.mod requires for `dependency`. */
function requiredVersion(dir: string, dependency: string): string {
  const goMod = readFileSync(path.join(dir, 'go.mod'), 'utf8');
  const version = goMod.match(new RegExp(`^\\s*${dependency.replaceAll('.', '\\.')} (\\S+)`, 'm'))?.[1];
  if (!version) throw new Error(`${dir}/go.mod does not require ${dependency}`);
  return version;
}

function yamlIn(dir: string, options: { exclude?: string[] } = {}): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f) && !options.exclude?.some((x) => f.startsWith(x)))
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

function concat(files: string[], sourceRoot: string, imageTag: string): string {
  return files
    .map((file) => {
      const body = readFileSync(file, 'utf8').replace(
        /ko:\/\/(knative\.dev\/[\w./-]+)/g,
        (_, importPath: string) => `gcr.io/knative-releases/${importPath}:v${imageTag}`,
      );
      return `# from ${path.relative(sourceRoot, file)}\n${body.trim()}\n`;
    })
    .join('---\n');
}

export async function buildGoModuleMirror(out: string): Promise<MirrorReport> {
  const v = loadVersions();
  const report: MirrorReport = { files: {}, skipped: {} };
  const write = (mirrorPath: string, content: string, source: string) => {
    const target = path.join(out, mirrorPath);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, content);
    report.files[mirrorPath] = source;
  };

  // Knative Serving, with the networking and caching CRDs its release bundles.
  const servingModule = `knative.dev/serving@${v.knative.servingModule}`;
  try {
    const serving = await moduleDir(servingModule);
    const networkingModule = `knative.dev/networking@${requiredVersion(serving, 'knative.dev/networking')}`;
    const cachingModule = `knative.dev/caching@${requiredVersion(serving, 'knative.dev/caching')}`;
    const networking = await moduleDir(networkingModule);
    const caching = await moduleDir(cachingModule);
    const root = path.dirname(path.dirname(serving)); // …/pkg/mod, so headers name module@version/path
    const networkingCrds = [
      'certificate.yaml',
      'domain-claim.yaml',
      'ingress.yaml',
      'serverlessservice.yaml',
    ].map((f) => path.join(networking, 'config', f));
    write(
      'knative-serving/serving-crds.yaml',
      concat(
        [
          ...networkingCrds,
          path.join(caching, 'config', 'image.yaml'),
          ...yamlIn(path.join(serving, 'config', 'core', '300-resources')),
        ],
        root,
        v.knative.serving,
      ),
      `Go modules ${servingModule} (config/core/300-resources), ${networkingModule} (config/*.yaml CRDs), ${cachingModule} (config/image.yaml)`,
    );
    write(
      'knative-serving/serving-core.yaml',
      concat(
        [
          ...yamlIn(path.join(serving, 'config', 'core'), { exclude: ['300-resources'] }),
          path.join(networking, 'config', 'config-network.yaml'),
        ],
        root,
        v.knative.serving,
      ),
      `Go modules ${servingModule} (config/core minus CRDs, ko:// images → gcr.io/knative-releases/…:v${v.knative.serving}), ${networkingModule} (config/config-network.yaml)`,
    );
    write(
      'knative-serving/serving-hpa.yaml',
      concat(yamlIn(path.join(serving, 'config', 'hpa-autoscaling')), root, v.knative.serving),
      `Go module ${servingModule} (config/hpa-autoscaling)`,
    );
  } catch (error) {
    for (const file of ['serving-crds.yaml', 'serving-core.yaml', 'serving-hpa.yaml']) {
      report.skipped[`knative-serving/${file}`] = (error as Error).message;
    }
  }

  // prometheus-operator CRDs (PrometheusRule, ServiceMonitor, ...) for monitoring/, which kube-prometheus-stack
  // would otherwise install.
  const promModule = `github.com/prometheus-operator/prometheus-operator@${v.prometheusOperatorModule}`;
  try {
    const prom = await moduleDir(promModule);
    write(
      'prometheus-operator/crds.yaml',
      concat(yamlIn(path.join(prom, 'example', 'prometheus-operator-crd')), path.dirname(prom), ''),
      `Go module ${promModule} (example/prometheus-operator-crd)`,
    );
  } catch (error) {
    report.skipped['prometheus-operator/crds.yaml'] = (error as Error).message;
  }

  // What no registry reachable from here carries, each with the reason (checked on 2026-11-28).
  const files = upstreamFiles(v);
  const unavailable: Record<string, string> = {
    kourier: `knative.dev/net-kourier is refused by the Go module proxy (403 "not available") and the release asset is on GitHub`,
    'knative-eventing': `knative.dev/eventing v0.42.2 downloads, but the Go checksum database has no entry for it (404), so its content cannot be verified; the release asset is on GitHub`,
    'eventing-kafka': `knative.dev/eventing-kafka-broker is refused by the Go module proxy (403 "not available"); the release asset is on GitHub`,
    strimzi: `Strimzi publishes its operator YAML and CRDs on GitHub releases and quay.io only; Maven Central's io.strimzi:api jar carries Java classes, no CRD YAML`,
  };
  for (const [component, reason] of Object.entries(unavailable)) {
    for (const file of files[component] ?? []) report.skipped[file.mirrorPath] = `${reason} (${file.url})`;
  }
  for (const chart of Object.values(upstreamCharts(v))) {
    report.skipped[chart.mirrorPath] =
      `Helm chart repositories (${chart.repo}) are not reachable here; no package registry carries the chart`;
  }
  return report;
}
