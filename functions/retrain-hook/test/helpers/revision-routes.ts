// Where the feeder sends traffic, from the real Knative Service: its status.traffic (what the Route has
// programmed) and, for each revision with a share, the ClusterIP of the revision's Kubernetes Service
// `<revision>-private` (port 80 → the pod's queue-proxy). There is no Knative ingress on this machine (no
// Envoy build is reachable), so the split itself is the feeder's, in the proportions Knative reports.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { KnativeService } from '../../src/knative.ts';

export interface Route {
  revision: string;
  percent: number;
  url: string;
}

export interface RevisionRoutes {
  /** The last status.traffic read, with each revision's URL (revisions without a Service yet are left out). */
  routes(): Route[];
  stop(): Promise<void>;
}

export function startRevisionRoutes(
  kc: KubeConfig,
  namespace: string,
  getService: () => Promise<KnativeService>,
  intervalMs = 250,
): RevisionRoutes {
  const core = kc.makeApiClient(CoreV1Api);
  const clusterIps = new Map<string, string>();
  let current: Route[] = [];
  let running = true;

  const urlOf = async (revision: string): Promise<string | undefined> => {
    let ip = clusterIps.get(revision);
    if (!ip) {
      const svc = await core
        .readNamespacedService({ name: `${revision}-private`, namespace })
        .catch(() => undefined);
      ip = svc?.spec?.clusterIP;
      if (ip) clusterIps.set(revision, ip);
    }
    return ip ? `http://${ip}` : undefined;
  };

  const loop = (async () => {
    while (running) {
      try {
        const traffic = (await getService()).status?.traffic ?? [];
        const next: Route[] = [];
        for (const t of traffic) {
          if (!t.revisionName || (t.percent ?? 0) <= 0) continue;
          const url = await urlOf(t.revisionName);
          if (url) next.push({ revision: t.revisionName, percent: t.percent ?? 0, url });
        }
        current = next;
      } catch {
        // keep the last routes while the apiserver does not answer
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();

  return {
    routes: () => current,
    async stop() {
      running = false;
      await loop;
    },
  };
}
