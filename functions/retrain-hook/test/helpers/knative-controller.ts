// Stands in for the Knative Serving controller, which cannot run here (no containers): it only copies what
// the real one would report into the Service's status subresource — the template's revision becomes the
// latest ready revision, and spec.traffic becomes status.traffic — through the real apiserver.
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KnativeService, TrafficTarget } from '../../src/knative.ts';

export interface FakeController {
  /** Revisions that never become ready (to test the ready timeout). */
  failing: Set<string>;
  /** Stop writing status (as if the controller were down). */
  paused: boolean;
  stop(): Promise<void>;
}

const ref = (namespace: string, name: string) => ({
  group: 'serving.knative.dev',
  version: 'v1',
  namespace,
  plural: 'services',
  name,
});

export function desiredStatus(service: KnativeService, failing: Set<string>): KnativeService['status'] {
  const current = service.status ?? {};
  const created = service.spec.template.metadata?.name ?? `${service.metadata.name}-00001`;
  const ready = failing.has(created) ? current.latestReadyRevisionName : created;
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
  const routable = spec.every((t) => (t.latestRevision ? ready : !failing.has(t.revisionName ?? '')));
  return {
    observedGeneration: service.metadata.generation,
    latestCreatedRevisionName: created,
    ...(ready ? { latestReadyRevisionName: ready } : {}),
    traffic: routable ? spec.map(resolve) : (current.traffic ?? []),
    conditions: [{ type: 'Ready', status: routable ? 'True' : 'False' }],
  };
}

export function startFakeController(
  kc: KubeConfig,
  namespace: string,
  name: string,
  intervalMs = 100,
): FakeController {
  const api = kc.makeApiClient(CustomObjectsApi);
  const state: FakeController = { failing: new Set(), paused: false, stop: async () => {} };
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        if (!state.paused) {
          const service = (await api.getNamespacedCustomObject(ref(namespace, name))) as KnativeService;
          const status = desiredStatus(service, state.failing);
          if (JSON.stringify(status) !== JSON.stringify(service.status)) {
            await api.patchNamespacedCustomObjectStatus(
              { ...ref(namespace, name), body: { status } },
              setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
            );
          }
        }
      } catch {
        // the apiserver may be stopping; try again
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  state.stop = async () => {
    running = false;
    await loop;
  };
  return state;
}
