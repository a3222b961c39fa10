// ROLLOUT_TARGET=none: no Knative Service to roll out on (no Kubernetes at all, e.g. the local learning
// drill). A version that passed the gate is promoted in MLflow only: alias `champion` moves to it and its
// tags say so; whoever serves `models:/<name>@champion` loads it on its next start. No canary, no
// observation: nothing serves the version before the alias names it (the Knative path's order is the
// reverse), which is why this is a separate, explicit mode and never a fallback.
import type { HookMetrics } from './metrics.ts';
import type { MlflowRegistry } from './mlflow.ts';

export interface RegistryPromotion {
  registry: MlflowRegistry;
  modelName: string;
  metrics: HookMetrics;
  /** The caller's retrying wrapper (503 to the sender when MLflow stays down). */
  request: <T>(fn: () => Promise<T>) => Promise<T>;
  log: { info(obj: object, msg?: string): void };
}

/** Tag `rollout.target` on versions promoted this way. */
export const TARGET_TAG = 'rollout.target';

/** Moves `champion` to the version and tags it promoted; returns the previous champion's version. */
export async function promoteInRegistry(
  o: RegistryPromotion,
  version: string,
  receivedAt: number,
): Promise<string | undefined> {
  const { registry, modelName } = o;
  const previous = await o.request(() => registry.getAlias(modelName, 'champion'));
  await o.request(() =>
    registry.setTags(modelName, version, {
      [TARGET_TAG]: 'none',
      'rollout.previous_version': previous?.version ?? '',
      'rollout.started_at': new Date(receivedAt).toISOString(),
    }),
  );
  await o.request(() => registry.setAlias(modelName, 'champion', version));
  await o.request(() =>
    registry.setTags(modelName, version, {
      'rollout.finished_at': new Date().toISOString(),
      'rollout.state': 'promoted', // last: readers take rollout.state as the sign that the rest is written
    }),
  );
  o.metrics.promotions.inc();
  o.metrics.rolloutDuration.observe({ outcome: 'promoted' }, (Date.now() - receivedAt) / 1000);
  o.log.info({ version, previous: previous?.version }, 'promoted in MLflow only (ROLLOUT_TARGET=none)');
  return previous?.version;
}
