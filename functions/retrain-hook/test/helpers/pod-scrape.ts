// Prometheus scrapes the real score pods the way kube-prometheus-stack does on a cluster: the fraud-score
// PodMonitor of monitoring/podmonitors.yaml turned into the scrape job prometheus-operator generates
// (scripts/cluster/lib/live-scrape.mts), over a file_sd list of the namespace's pods with the pod role's
// `__meta_kubernetes_pod_*` labels (Debian's Prometheus has no kubernetes_sd, so this file stands in for
// the discovery, not for the pods). Only the intervals differ (scrape and discovery every 1 s instead of
// 15 s and 5 s), so a canary window of seconds has samples.
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { podMonitorScrapeConfigs, podTargets } from '../../../../scripts/cluster/lib/live-scrape.mts';

export interface PodScrape {
  /** The file_sd file the scrape job reads. */
  file: string;
  stop(): Promise<void>;
}

/** The fraud-score PodMonitor's job, as the operator renders it, at a 1 s interval. */
export function podScrapeConfigs(repoRoot: string, podsFile: string): object[] {
  const jobs = podMonitorScrapeConfigs(path.join(repoRoot, 'monitoring', 'podmonitors.yaml'), podsFile) as {
    job_name: string;
    scrape_interval?: string;
  }[];
  const score = jobs.filter((j) => j.job_name === 'podMonitor/monitoring/fraud-score/0');
  if (score.length !== 1)
    throw new Error(`monitoring/podmonitors.yaml: no fraud-score job (${jobs.map((j) => j.job_name)})`);
  return score.map((j) => ({
    ...j,
    scrape_interval: '1s',
    scrape_timeout: '1s',
    file_sd_configs: [{ files: [podsFile], refresh_interval: '1s' }],
  }));
}

const write = (file: string, content: unknown) => {
  writeFileSync(`${file}.tmp`, JSON.stringify(content));
  renameSync(`${file}.tmp`, file); // file_sd must never read a half-written file
};

/** Keeps `file` listing the namespace's pods (every `intervalMs`) until stopped. */
export function startPodScrape(
  kc: KubeConfig,
  namespace: string,
  file: string,
  intervalMs = 1000,
): PodScrape {
  const api = kc.makeApiClient(CoreV1Api);
  write(file, []);
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const list = await api.listNamespacedPod({ namespace });
        write(file, podTargets(JSON.parse(JSON.stringify(list.items))));
      } catch {
        // the apiserver may be starting or stopping: keep the last list
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    file,
    async stop() {
      running = false;
      await loop;
    },
  };
}
