import {
  ApiException,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { UnavailableError } from './retry.ts';

export interface TrafficTarget {
  revisionName?: string;
  latestRevision?: boolean;
  configurationName?: string;
  percent?: number;
  tag?: string;
  url?: string;
}

export interface KnativeService {
  metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number };
  spec: {
    template: {
      metadata?: { name?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
      spec: { containers: { name?: string; image?: string; env?: { name: string; value?: string }[] }[] };
    };
    traffic?: TrafficTarget[];
  };
  status?: {
    latestReadyRevisionName?: string;
    latestCreatedRevisionName?: string;
    observedGeneration?: number;
    traffic?: TrafficTarget[];
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

/** The traffic tag that makes the candidate revision addressable as canary-<service>.<ns>... */
export const CANARY_TAG = 'canary';
/** Annotation on the revision template naming the model version it serves. */
export const MODEL_VERSION_ANNOTATION = 'fraud.dev/model-version';

/** Deterministic, so repeating a half-finished rollout patches the same revision instead of a new one. */
export const revisionNameFor = (service: string, version: string) => `${service}-model-v${version}`;

export function versionOfRevision(service: string, revision: string): string | undefined {
  const prefix = `${service}-model-v`;
  return revision.startsWith(prefix) && /^\d+$/.test(revision.slice(prefix.length))
    ? revision.slice(prefix.length)
    : undefined;
}

/** The revision serving the largest share of traffic that is not the canary. */
export function stableRevision(service: KnativeService): string | undefined {
  const targets = (service.status?.traffic ?? []).filter((t) => t.tag !== CANARY_TAG && t.revisionName);
  targets.sort((a, b) => (b.percent ?? 0) - (a.percent ?? 0));
  return targets[0]?.revisionName ?? service.status?.latestReadyRevisionName;
}

/** Percent of traffic the status says a revision receives (0 when absent). */
export function servedPercent(service: KnativeService, revision: string): number {
  return (service.status?.traffic ?? [])
    .filter((t) => t.revisionName === revision)
    .reduce((sum, t) => sum + (t.percent ?? 0), 0);
}

/**
 * Knative's own verdict that `revision` failed (image missing, pods crashing, readiness never reached
 * within its progress deadline): the Configuration marks its latest created revision failed, which the
 * Service shows as ConfigurationsReady=False while that revision is `latestCreatedRevisionName`. Returns
 * Knative's reason and message, or undefined while there is no such verdict.
 */
export function revisionFailure(service: KnativeService, revision: string): string | undefined {
  const status = service.status;
  if (status?.latestCreatedRevisionName !== revision) return undefined;
  const condition = status.conditions?.find((c) => c.type === 'ConfigurationsReady');
  if (condition?.status !== 'False') return undefined;
  return [condition.reason, condition.message].filter(Boolean).join(': ') || 'ConfigurationsReady=False';
}

export function canaryTarget(service: KnativeService): TrafficTarget | undefined {
  return (service.spec.traffic ?? []).find((t) => t.tag === CANARY_TAG && (t.percent ?? 0) > 0);
}

/** A copy of the Service's template that runs the same container with MODEL_URI pointing at `modelUri`. */
export function candidateTemplate(
  service: KnativeService,
  revisionName: string,
  modelUri: string,
  version: string,
  containerName?: string,
): KnativeService['spec']['template'] {
  const template = structuredClone(service.spec.template);
  const containers = template.spec.containers;
  const index = containerName ? containers.findIndex((c) => c.name === containerName) : 0;
  const container = containers[index];
  if (!container) {
    throw new Error(
      `the score Service has no container ${containerName ? `named ${containerName}` : 'at all'}`,
    );
  }
  const env = (container.env ?? []).filter((e) => e.name !== 'MODEL_URI');
  env.push({ name: 'MODEL_URI', value: modelUri });
  container.env = env;
  template.metadata = {
    ...template.metadata,
    name: revisionName,
    annotations: { ...template.metadata?.annotations, [MODEL_VERSION_ANNOTATION]: version },
  };
  return template;
}

const GROUP = 'serving.knative.dev';
const VERSION = 'v1';
const PLURAL = 'services';

/** Reads and patches the one score Knative Service the hook manages (RBAC: get + patch on it only). */
export class ScoreServiceClient {
  private readonly api: CustomObjectsApi;

  constructor(
    kubeConfig: KubeConfig,
    readonly namespace: string,
    readonly name: string,
  ) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  private translate(error: unknown, what: string): never {
    if (error instanceof ApiException) {
      const code = error.code;
      const detail =
        typeof error.body === 'string' ? error.body.slice(0, 300) : JSON.stringify(error.body).slice(0, 300);
      if (code >= 500 || code === 429) {
        throw new UnavailableError('kubernetes', `Kubernetes API answered ${code} to ${what}: ${detail}`);
      }
      if (code === 401 || code === 403) {
        throw new UnavailableError('kubernetes', `not allowed to ${what} (${code}): check the hook's RBAC`);
      }
      if (code === 404) {
        throw new UnavailableError(
          'kubernetes',
          `Knative Service ${this.namespace}/${this.name} not found (${what})`,
        );
      }
      throw new Error(`Kubernetes API refused ${what} (${code}): ${detail}`);
    }
    throw new UnavailableError(
      'kubernetes',
      `Kubernetes API unreachable (${what}): ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }

  async get(): Promise<KnativeService> {
    try {
      return (await this.api.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: this.namespace,
        plural: PLURAL,
        name: this.name,
      })) as KnativeService;
    } catch (error) {
      this.translate(error, `get the Knative Service ${this.namespace}/${this.name}`);
    }
  }

  /** JSON merge patch of spec: lists (traffic, containers) are replaced whole, which is what we want. */
  async patchSpec(spec: Partial<KnativeService['spec']>): Promise<KnativeService> {
    try {
      return (await this.api.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace: this.namespace,
          plural: PLURAL,
          name: this.name,
          body: { spec },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )) as KnativeService;
    } catch (error) {
      this.translate(error, `patch the Knative Service ${this.namespace}/${this.name}`);
    }
  }
}
