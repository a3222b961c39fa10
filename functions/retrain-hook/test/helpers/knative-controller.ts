// Stands in for the Knative Serving controller, which cannot run here (no containers). Through the real
// apiserver it does the part the hook depends on: each template becomes a revision (its env snapshotted, as
// revisions are immutable) served by a real scorer process (scorer-revisions.ts); a revision becomes the
// latest ready one only once its scorer is ready; spec.traffic becomes status.traffic only when every
// revision it names is ready. Revisions without traffic that are not the latest scale to zero (their scorer
// stops). Not modelled: the activator, scale-from-zero buffering, autoscaling, conditions beyond Ready.
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KnativeService, TrafficTarget } from '../../src/knative.ts';
import type { ScorerRevisions } from './scorer-revisions.ts';

export interface Route {
  revision: string;
  percent: number;
  url: string;
}

export interface StandInController {
  /** status.traffic as last written, with the URL of each revision's scorer (what the feeder routes by). */
  routes(): Route[];
  stop(): Promise<void>;
}

const ref = (namespace: string, name: string) => ({
  group: 'serving.knative.dev',
  version: 'v1',
  namespace,
  plural: 'services',
  name,
});

export const createdRevision = (service: KnativeService) =>
  service.spec.template.metadata?.name ?? `${service.metadata.name}-00001`;

export function desiredStatus(
  service: KnativeService,
  isReady: (revision: string) => boolean,
): KnativeService['status'] {
  const current = service.status ?? {};
  const created = createdRevision(service);
  const ready = isReady(created) ? created : current.latestReadyRevisionName;
  const resolve = (t: TrafficTarget): TrafficTarget => {
    const out: TrafficTarget = {
      revisionName: t.latestRevision ? ready : t.revisionName,
      percent: t.percent ?? 0,
    };
    if (t.latestRevision) out.latestRevision = true;
    if (t.tag) out.tag = t.tag;
    return out;
  };
  const spec = service.spec.traffic ?? [{ latestRevision: true, percent: 100 }];
  const routable = spec.every((t) => (t.latestRevision ? ready : isReady(t.revisionName ?? '')));
  return {
    observedGeneration: service.metadata.generation,
    latestCreatedRevisionName: created,
    ...(ready ? { latestReadyRevisionName: ready } : {}),
    traffic: routable ? spec.map(resolve) : (current.traffic ?? []),
    conditions: [{ type: 'Ready', status: routable ? 'True' : 'False' }],
  };
}

const envOf = (template: KnativeService['spec']['template']) =>
  Object.fromEntries(
    (template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? ''] as [string, string]),
  );

export function startStandInController(
  kc: KubeConfig,
  namespace: string,
  name: string,
  scorers: ScorerRevisions,
  intervalMs = 100,
): StandInController {
  const api = kc.makeApiClient(CustomObjectsApi);
  const revisionEnv = new Map<string, Record<string, string>>();
  let lastTraffic: TrafficTarget[] = [];
  let running = true;

  async function step(): Promise<void> {
    const service = (await api.getNamespacedCustomObject(ref(namespace, name))) as KnativeService;
    const created = createdRevision(service);
    if (!revisionEnv.has(created)) revisionEnv.set(created, envOf(service.spec.template));
    // Scorers run for the newest revision and for every revision that spec or status route traffic to.
    const routed = [...(service.spec.traffic ?? []), ...(service.status?.traffic ?? [])]
      .filter((t) => (t.percent ?? 0) > 0)
      .map((t) => t.revisionName);
    const wanted = new Map<string, Record<string, string>>();
    for (const revision of [created, ...routed]) {
      const env = revision ? revisionEnv.get(revision) : undefined;
      if (revision && env) wanted.set(revision, env);
    }
    await scorers.reconcile(wanted);
    const status = desiredStatus(service, (r) => scorers.isReady(r));
    lastTraffic = status?.traffic ?? [];
    if (JSON.stringify(status) !== JSON.stringify(service.status)) {
      await api.patchNamespacedCustomObjectStatus(
        { ...ref(namespace, name), body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    }
  }

  const loop = (async () => {
    while (running) {
      await step().catch(() => {
        // the apiserver may be stopping; try again
      });
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();

  return {
    routes() {
      return lastTraffic.flatMap((t) => {
        const url = t.revisionName ? scorers.urlOf(t.revisionName) : undefined;
        return t.revisionName && url && (t.percent ?? 0) > 0
          ? [{ revision: t.revisionName, percent: t.percent ?? 0, url }]
          : [];
      });
    },
    async stop() {
      running = false;
      await loop;
      await scorers.stop();
    },
  };
}
