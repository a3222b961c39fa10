// Where each upstream manifest and chart comes from: its release URL, or the same relative path in a mirror
// (a folder or a URL) for air-gapped clusters and for our own tests (scripts/cluster/mirror.mts builds one).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Versions } from './versions.mts';

export interface UpstreamFile {
  /** Path inside a mirror, e.g. knative-serving/serving-crds.yaml; also the name printed in plans. */
  mirrorPath: string;
  /** The release asset it mirrors. */
  url: string;
}

export interface UpstreamChart {
  name: 'kube-prometheus-stack' | 'airflow';
  repo: string;
  version: string;
  /** Path of the packaged chart inside a mirror. */
  mirrorPath: string;
}

const gh = (repo: string, tag: string, file: string) =>
  `https://github.com/${repo}/releases/download/${tag}/${file}`;

/** Every upstream manifest the bootstrap applies, by component, in install order. */
export function upstreamFiles(v: Versions): Record<string, UpstreamFile[]> {
  const k = v.knative;
  const file = (dir: string, repo: string, tag: string, name: string, asset = name): UpstreamFile => ({
    mirrorPath: `${dir}/${name}`,
    url: gh(repo, tag, asset),
  });
  return {
    'knative-serving': [
      file('knative-serving', 'knative/serving', `knative-v${k.serving}`, 'serving-crds.yaml'),
      file('knative-serving', 'knative/serving', `knative-v${k.serving}`, 'serving-core.yaml'),
    ],
    kourier: [file('net-kourier', 'knative/net-kourier', `knative-v${k.netKourier}`, 'kourier.yaml')],
    'serving-hpa': [file('knative-serving', 'knative/serving', `knative-v${k.serving}`, 'serving-hpa.yaml')],
    'knative-eventing': [
      file('knative-eventing', 'knative/eventing', `knative-v${k.eventing}`, 'eventing-crds.yaml'),
      file('knative-eventing', 'knative/eventing', `knative-v${k.eventing}`, 'eventing-core.yaml'),
    ],
    'eventing-kafka': [
      'eventing-kafka-controller.yaml',
      'eventing-kafka-source.yaml',
      'eventing-kafka-sink.yaml',
    ].map((name) =>
      file(
        'eventing-kafka-broker',
        'knative-extensions/eventing-kafka-broker',
        `knative-v${k.eventingKafkaBroker}`,
        name,
      ),
    ),
    strimzi: [
      file(
        'strimzi',
        'strimzi/strimzi-kafka-operator',
        v.strimzi,
        'strimzi-cluster-operator.yaml',
        `strimzi-cluster-operator-${v.strimzi}.yaml`,
      ),
    ],
    'prometheus-operator-crds': [
      {
        mirrorPath: 'prometheus-operator/crds.yaml',
        url: `https://github.com/prometheus-operator/prometheus-operator/releases/download/${v.prometheusOperatorModule}/stripped-down-crds.yaml`,
      },
    ],
  };
}

export function upstreamCharts(v: Versions): Record<string, UpstreamChart> {
  const chart = (name: UpstreamChart['name']): UpstreamChart => ({
    name,
    repo: v.charts[name].repo,
    version: v.charts[name].version,
    mirrorPath: `charts/${name}-${v.charts[name].version}.tgz`,
  });
  return { monitoring: chart('kube-prometheus-stack'), airflow: chart('airflow') };
}

export type Mirror = { kind: 'dir'; dir: string } | { kind: 'url'; base: string } | undefined;

export function parseMirror(value: unknown): Mirror {
  if (value === undefined || value === '' || value === true) return undefined;
  const text = String(value);
  if (/^https?:\/\//.test(text)) return { kind: 'url', base: text.replace(/\/+$/, '') };
  const dir = path.resolve(text);
  if (!existsSync(dir)) throw new Error(`--mirror ${text}: no such directory`);
  return { kind: 'dir', dir };
}

/** Reads one upstream manifest from the mirror, or from its release URL when there is no mirror. */
export async function readUpstream(file: UpstreamFile, mirror: Mirror): Promise<string> {
  if (mirror?.kind === 'dir') {
    const local = path.join(mirror.dir, file.mirrorPath);
    if (!existsSync(local)) {
      throw new Error(`the mirror ${mirror.dir} has no ${file.mirrorPath} (upstream: ${file.url})`);
    }
    return readFileSync(local, 'utf8');
  }
  const url = mirror?.kind === 'url' ? `${mirror.base}/${file.mirrorPath}` : file.url;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  } catch (error) {
    throw new Error(
      `downloading ${url} failed (${(error as Error).message}); use --mirror <dir|url> offline`,
    );
  }
  if (!response.ok) throw new Error(`downloading ${url} failed: HTTP ${response.status}`);
  return response.text();
}

/** Whether the mirror (or the network) can provide a file, without reading it; for plans and skips. */
export function inMirror(mirrorPath: string, mirror: Mirror): boolean | undefined {
  if (mirror?.kind === 'dir') return existsSync(path.join(mirror.dir, mirrorPath));
  return undefined; // unknown until fetched
}
