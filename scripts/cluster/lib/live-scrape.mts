// Prometheus scrape configs for the live node, made the way prometheus-operator makes them: each PodMonitor
// of monitoring/podmonitors.yaml becomes a pod job that keeps the selected pods' named port, adds the
// operator's namespace/pod/container labels and then applies the PodMonitor's own relabelings. Beside them:
// the kubelet's cAdvisor endpoint (kube-prometheus-stack's kubelet ServiceMonitor) and kube-state-metrics
// (honor_labels, as the stack's ServiceMonitor sets it).
//
// Debian's Prometheus is built without Kubernetes service discovery (`kubernetes_sd_configs` is an unknown
// field there), so `podTargets()` does the pod role's part: from the apiserver's pod list it writes a file_sd
// file with one target per container port and the same `__meta_kubernetes_pod_*` labels, and the relabelling
// above runs on them unchanged.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface ApiAccess {
  server: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

interface Relabeling {
  sourceLabels?: string[];
  separator?: string;
  targetLabel?: string;
  regex?: string;
  replacement?: string;
  action?: string;
}

interface PodMonitor {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: {
    namespaceSelector?: { matchNames?: string[] };
    selector: { matchLabels?: Record<string, string> };
    podMetricsEndpoints: { port: string; path?: string; interval?: string; relabelings?: Relabeling[] }[];
  };
}

/** Kubernetes label name → the Prometheus meta label the pod role exposes it as. */
const metaLabel = (label: string) => `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;

function relabel(r: Relabeling): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.sourceLabels) out.source_labels = r.sourceLabels;
  if (r.separator !== undefined) out.separator = r.separator;
  if (r.targetLabel) out.target_label = r.targetLabel;
  if (r.regex !== undefined) out.regex = r.regex;
  if (r.replacement !== undefined) out.replacement = r.replacement;
  if (r.action) out.action = r.action.toLowerCase();
  return out;
}

interface Pod {
  metadata: { name: string; namespace: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: {
    containers: { name: string; ports?: { name?: string; containerPort: number; protocol?: string }[] }[];
  };
  status: { podIP?: string; phase?: string; conditions?: { type: string; status: string }[] };
}

/** file_sd targets for every container port of every pod with an IP, labelled as the pod role labels them. */
export function podTargets(pods: Pod[]): { targets: string[]; labels: Record<string, string> }[] {
  return pods
    .filter((p) => p.status.podIP && !p.metadata.deletionTimestamp)
    .flatMap((p) =>
      p.spec.containers.flatMap((c) =>
        (c.ports ?? []).map((port) => ({
          targets: [`${p.status.podIP}:${port.containerPort}`],
          labels: {
            __meta_kubernetes_namespace: p.metadata.namespace,
            __meta_kubernetes_pod_name: p.metadata.name,
            __meta_kubernetes_pod_ip: p.status.podIP ?? '',
            __meta_kubernetes_pod_phase: p.status.phase ?? '',
            __meta_kubernetes_pod_ready: String(
              p.status.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false,
            ),
            __meta_kubernetes_pod_container_name: c.name,
            __meta_kubernetes_pod_container_port_name: port.name ?? '',
            __meta_kubernetes_pod_container_port_number: String(port.containerPort),
            __meta_kubernetes_pod_container_port_protocol: port.protocol ?? 'TCP',
            ...Object.fromEntries(Object.entries(p.metadata.labels ?? {}).map(([k, v]) => [metaLabel(k), v])),
          },
        })),
      ),
    );
}

const namespaceKeep = (namespaces?: string[]) =>
  namespaces
    ? [{ action: 'keep', source_labels: ['__meta_kubernetes_namespace'], regex: namespaces.join('|') }]
    : [];

export function podMonitorScrapeConfigs(file: string, podsFile: string): object[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as PodMonitor);
  return docs
    .filter((d) => d?.kind === 'PodMonitor')
    .flatMap((pm) =>
      pm.spec.podMetricsEndpoints.map((endpoint, i) => ({
        job_name: `podMonitor/${pm.metadata.namespace ?? 'monitoring'}/${pm.metadata.name}/${i}`,
        metrics_path: endpoint.path ?? '/metrics',
        scrape_interval: endpoint.interval ?? '15s',
        file_sd_configs: [{ files: [podsFile], refresh_interval: '5s' }],
        relabel_configs: [
          ...namespaceKeep(pm.spec.namespaceSelector?.matchNames),
          ...Object.entries(pm.spec.selector.matchLabels ?? {}).map(([label, value]) => ({
            action: 'keep',
            source_labels: [metaLabel(label)],
            regex: value,
          })),
          {
            action: 'keep',
            source_labels: ['__meta_kubernetes_pod_container_port_name'],
            regex: endpoint.port,
          },
          { action: 'drop', source_labels: ['__meta_kubernetes_pod_phase'], regex: '(Failed|Succeeded)' },
          { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
          { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
          { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
          {
            target_label: 'job',
            replacement: `${pm.metadata.namespace ?? 'monitoring'}/${pm.metadata.name}`,
          },
          { target_label: 'endpoint', replacement: endpoint.port },
          ...(endpoint.relabelings ?? []).map(relabel),
        ],
      })),
    );
}

export function liveScrapeConfigs(options: {
  repoRoot: string;
  /** Client certificate for the kubelet's HTTPS endpoint. */
  api: ApiAccess;
  /** The file podTargets() output is written to. */
  podsFile: string;
  /** host:port of the kubelet's HTTPS server */
  kubelet: string;
  interval: string;
}): object[] {
  const { api } = options;
  const tls = { ca_file: api.caFile, cert_file: api.certFile, key_file: api.keyFile };
  return [
    ...podMonitorScrapeConfigs(
      path.join(options.repoRoot, 'monitoring', 'podmonitors.yaml'),
      options.podsFile,
    ),
    {
      job_name: 'kubelet',
      scheme: 'https',
      metrics_path: '/metrics/cadvisor',
      scrape_interval: options.interval,
      honor_labels: true,
      honor_timestamps: true,
      tls_config: tls,
      static_configs: [{ targets: [options.kubelet], labels: { metrics_path: '/metrics/cadvisor' } }],
    },
    {
      job_name: 'kube-state-metrics',
      scrape_interval: options.interval,
      honor_labels: true,
      file_sd_configs: [{ files: [options.podsFile], refresh_interval: '5s' }],
      relabel_configs: [
        {
          action: 'keep',
          source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'],
          regex: 'kube-state-metrics',
        },
        {
          action: 'keep',
          source_labels: ['__meta_kubernetes_pod_container_port_name'],
          regex: 'http-metrics',
        },
      ],
    },
  ];
}
