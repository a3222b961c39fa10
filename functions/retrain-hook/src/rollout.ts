import { decide } from './gate.ts';
import {
  CANARY_TAG,
  canaryTarget,
  candidateTemplate,
  type KnativeService,
  revisionFailure,
  revisionNameFor,
  type ScoreServiceClient,
  servedPercent,
  stableRevision,
  versionOfRevision,
} from './knative.ts';
import type { HookMetrics } from './metrics.ts';
import type { MlflowRegistry, ModelVersion } from './mlflow.ts';
import type { Policy } from './policy.ts';
import { type PrometheusClient, renderQuery } from './prometheus.ts';
import { promoteInRegistry } from './registry-promotion.ts';
import { countAndLogRetries, type RetryPolicy, sleep, UnavailableError, withRetry } from './retry.ts';

/** MLflow version tags (docs/DESIGN.md): the registry is the audit trail and the hook's only memory. */
export const TAG = {
  gateDecision: 'gate.decision',
  gateReasons: 'gate.reasons',
  gateNotes: 'gate.notes',
  gateDecidedAt: 'gate.decided_at',
  state: 'rollout.state',
  revision: 'rollout.revision',
  previousRevision: 'rollout.previous_revision',
  previousVersion: 'rollout.previous_version',
  reasons: 'rollout.reasons',
  startedAt: 'rollout.started_at',
  finishedAt: 'rollout.finished_at',
} as const;

export const TERMINAL_STATES = new Set(['promoted', 'rolled_back', 'rejected']);

export interface CanaryQueries {
  /** Fraction of the candidate's requests that failed, 0..1. */
  errorRate: string;
  /** p95 latency of the candidate in milliseconds. */
  latencyP95Ms: string;
  /** Requests the candidate served during the window (any positive number means traffic was seen). */
  requests: string;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RolloutOptions {
  registry: MlflowRegistry;
  /**
   * The score Knative Service the canary runs on; undefined = no rollout target (ROLLOUT_TARGET=none):
   * a version that passes the gate is promoted in MLflow only (registry-promotion.ts).
   */
  service: ScoreServiceClient | undefined;
  prometheus: PrometheusClient | undefined;
  policy: Policy;
  modelName: string;
  queries: CanaryQueries;
  metrics: HookMetrics;
  log: Logger;
  /** Retries while a caller waits for an answer (then 503). */
  requestRetry: Omit<RetryPolicy, 'signal' | 'onRetry'>;
  /** Retries once a rollout is under way: it never gives up half-way, only backs off. */
  backgroundRetry: { baseMs: number; maxMs: number };
  /** How often to read the Service status while waiting for the controller. */
  statusPollMs: number;
}

export type Outcome =
  | { kind: 'rejected'; version: string; reasons: string[] }
  | { kind: 'already_decided'; version: string; state: string }
  | { kind: 'in_progress'; version: string }
  | { kind: 'busy'; version: string; current: string }
  | { kind: 'started'; version: string; revision: string }
  /** ROLLOUT_TARGET=none: gate passed, `champion` moved in MLflow, nothing rolled out. */
  | { kind: 'promoted'; version: string; target: 'none'; previous: string | undefined };

export class VersionNotFoundError extends Error {}

interface ActiveRollout {
  version: string;
  revision: string;
  previousRevision: string;
  previousVersion: string | undefined;
  phase: 'waiting_ready' | 'observing' | 'promoting' | 'rolling_back';
  startedAt: number;
}

/**
 * The rollout state machine. Order of side effects is chosen so that every interruption leaves a
 * consistent state: Kubernetes serves a revision before an MLflow alias names its version, and an alias
 * is moved away before traffic leaves a version. `recover()` finishes whatever a crash interrupted.
 */
export class RolloutManager {
  private active: ActiveRollout | undefined;
  private running: Promise<void> | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();

  constructor(private readonly o: RolloutOptions) {}

  /** The Knative Service; only reached once a rollout target exists (never with ROLLOUT_TARGET=none). */
  private get service(): ScoreServiceClient {
    if (!this.o.service) throw new Error('no rollout target (ROLLOUT_TARGET=none): no Knative Service');
    return this.o.service;
  }

  get current(): Readonly<ActiveRollout> | undefined {
    return this.active;
  }

  /** Resolves when the rollout started last (if any) has finished; for tests and shutdown. */
  async settled(): Promise<void> {
    await this.running;
  }

  async close(): Promise<void> {
    this.abort.abort(new Error('retrain-hook shutting down'));
    await this.running?.catch(() => {});
  }

  private request<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {
      ...this.o.requestRetry,
      signal: this.abort.signal,
      onRetry: (e) => this.o.metrics.dependencyErrors.inc({ dependency: e.dependency }),
    });
  }

  private persist<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {
      attempts: Number.POSITIVE_INFINITY,
      ...this.o.backgroundRetry,
      signal: this.abort.signal,
      onRetry: countAndLogRetries(this.o.metrics.dependencyErrors, this.o.log, 'retrying'),
    });
  }

  /** Serialises the decision part of concurrent deliveries, so two of them cannot both start a rollout. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => {});
    return next;
  }

  /**
   * Gate a version and, if it passes, start its canary. Throws UnavailableError (→ 503) when MLflow or
   * Kubernetes cannot be reached before anything irreversible happened.
   */
  handleVersion(version: string, receivedAt = Date.now()): Promise<Outcome> {
    return this.exclusive(async () => {
      if (this.active?.version === version) return { kind: 'in_progress', version };
      if (this.active) return { kind: 'busy', version, current: this.active.version };
      const { registry, modelName } = this.o;

      let mv: ModelVersion;
      try {
        mv = await this.request(() => registry.getVersion(modelName, version));
      } catch (error) {
        if (error instanceof UnavailableError) throw error;
        throw new VersionNotFoundError(`model version ${modelName}/${version} not found in MLflow`);
      }
      const state = mv.tags[TAG.state];
      if (state && TERMINAL_STATES.has(state)) return { kind: 'already_decided', version, state };
      if (state === 'canary') {
        // A rollout this process did not start (a restart): finish it rather than start another.
        void this.recover();
        return { kind: 'in_progress', version };
      }

      const stopTimer = this.o.metrics.gateDuration.startTimer();
      const metrics = mv.runId ? await this.request(() => registry.runMetrics(mv.runId as string)) : {};
      const decision = mv.runId
        ? decide(metrics, this.o.policy.gate)
        : { passed: false, reasons: ['the version has no training run to read metrics from'], notes: [] };
      stopTimer();
      await this.request(() =>
        registry.setTags(modelName, version, {
          [TAG.gateDecision]: decision.passed ? 'passed' : 'rejected',
          [TAG.gateReasons]: JSON.stringify(decision.reasons),
          [TAG.gateNotes]: JSON.stringify(decision.notes),
          [TAG.gateDecidedAt]: new Date().toISOString(),
        }),
      );
      if (!decision.passed) {
        await this.request(() =>
          registry.setTags(modelName, version, {
            [TAG.reasons]: JSON.stringify(decision.reasons),
            [TAG.state]: 'rejected', // last: readers take rollout.state as the sign that the rest is written
          }),
        );
        this.o.metrics.rejections.inc();
        this.o.log.info({ version, reasons: decision.reasons }, 'gate rejected the version');
        return { kind: 'rejected', version, reasons: decision.reasons };
      }
      if (!this.o.service) {
        const previous = await promoteInRegistry(
          {
            registry,
            modelName,
            metrics: this.o.metrics,
            log: this.o.log,
            request: (fn) => this.request(fn),
          },
          version,
          receivedAt,
        );
        return { kind: 'promoted', version, target: 'none', previous };
      }

      const service = await this.request(() => this.service.get());
      const previousRevision = stableRevision(service);
      if (!previousRevision) {
        throw new UnavailableError(
          'kubernetes',
          'the score Service has no ready revision to keep as the stable one',
        );
      }
      const champion = await this.request(() => registry.getAlias(modelName, 'champion'));
      const revision = revisionNameFor(this.service.name, version);
      const percent = this.o.policy.canary.traffic_percent;
      const template = candidateTemplate(service, revision, `models:/${modelName}/${version}`, version);
      // The first irreversible step: after it, the rollout runs to an end in the background.
      await this.request(() =>
        this.service.patchSpec({
          template,
          traffic: [
            { revisionName: previousRevision, percent: 100 - percent },
            { revisionName: revision, percent, tag: CANARY_TAG },
          ],
        }),
      );
      this.begin({
        version,
        revision,
        previousRevision,
        previousVersion: champion?.version,
        phase: 'waiting_ready',
        startedAt: receivedAt,
      });
      return { kind: 'started', version, revision };
    });
  }

  private begin(rollout: ActiveRollout, from: 'start' | 'promote' = 'start'): void {
    this.active = rollout;
    this.o.metrics.rolloutInProgress.set(1);
    this.running = (from === 'promote' ? this.promote(rollout) : this.run(rollout))
      .catch((error) => {
        if (!this.abort.signal.aborted)
          this.o.log.error({ err: (error as Error).message }, 'rollout stopped');
      })
      .finally(() => {
        this.active = undefined;
        this.o.metrics.rolloutInProgress.set(0);
      });
  }

  private async run(r: ActiveRollout): Promise<void> {
    const { registry, modelName } = this.o;
    await this.persist(() =>
      registry.setTags(modelName, r.version, {
        [TAG.revision]: r.revision,
        [TAG.previousRevision]: r.previousRevision,
        [TAG.previousVersion]: r.previousVersion ?? '',
        [TAG.startedAt]: new Date(r.startedAt).toISOString(),
        [TAG.state]: 'canary',
      }),
    );
    // Knative's verdict on the revision ends the wait early; ready_timeout_seconds bounds it otherwise.
    const knative: { failure?: string } = {};
    const ready = await this.waitFor((s) => {
      knative.failure = revisionFailure(s, r.revision);
      return (
        knative.failure !== undefined ||
        (s.status?.latestReadyRevisionName === r.revision && servedPercent(s, r.revision) > 0)
      );
    }, this.o.policy.canary.ready_timeout_seconds * 1000);
    if (knative.failure !== undefined) {
      return this.rollback(r, 'not_ready', [`revision ${r.revision} failed (Knative: ${knative.failure})`]);
    }
    if (!ready) {
      return this.rollback(r, 'not_ready', [
        `revision ${r.revision} was not ready and serving within ${this.o.policy.canary.ready_timeout_seconds} s`,
      ]);
    }
    // The canary serves the version now, so the alias may name it.
    await this.persist(() => registry.setAlias(modelName, 'challenger', r.version));
    r.phase = 'observing';
    const verdict = await this.observe(r);
    if (verdict) return this.rollback(r, verdict.reason, verdict.messages);
    return this.promote(r);
  }

  /** Watches the candidate revision; returns why it failed, or undefined if it held up. */
  private async observe(r: ActiveRollout): Promise<{ reason: string; messages: string[] } | undefined> {
    const canary = this.o.policy.canary;
    const vars = { revision: r.revision, namespace: this.service.namespace, service: this.service.name };
    const deadline = Date.now() + canary.observation_seconds * 1000;
    let sawTraffic = false;
    const prometheus = this.o.prometheus;
    do {
      await sleep(
        Math.min(canary.poll_seconds * 1000, Math.max(0, deadline - Date.now())),
        this.abort.signal,
      );
      if (!prometheus) continue;
      try {
        const [requests, errorRate, latency] = await Promise.all([
          prometheus.scalar(renderQuery(this.o.queries.requests, vars)),
          prometheus.scalar(renderQuery(this.o.queries.errorRate, vars)),
          prometheus.scalar(renderQuery(this.o.queries.latencyP95Ms, vars)),
        ]);
        if (requests !== undefined && requests > 0) sawTraffic = true;
        if (errorRate !== undefined && errorRate > canary.max_error_rate) {
          return {
            reason: 'error_rate',
            messages: [
              `canary error rate ${errorRate.toFixed(4)} above the maximum ${canary.max_error_rate}`,
            ],
          };
        }
        if (latency !== undefined && latency > canary.max_p95_latency_ms) {
          return {
            reason: 'latency',
            messages: [
              `canary p95 latency ${latency.toFixed(1)} ms above the maximum ${canary.max_p95_latency_ms} ms`,
            ],
          };
        }
      } catch (error) {
        // Prometheus down or a bad query: no evidence either way this round; require_traffic decides at the end.
        this.o.metrics.dependencyErrors.inc({ dependency: 'prometheus' });
        this.o.log.warn({ err: (error as Error).message }, 'canary analysis query failed');
      }
    } while (Date.now() < deadline);
    if (canary.require_traffic && !sawTraffic) {
      return {
        reason: 'no_traffic',
        messages: [`no canary requests observed in the ${canary.observation_seconds} s window`],
      };
    }
    return undefined;
  }

  private async promote(r: ActiveRollout): Promise<void> {
    const { registry, modelName } = this.o;
    r.phase = 'promoting';
    // champion first while the canary already serves the version, then all traffic to it.
    await this.persist(() => registry.setAlias(modelName, 'champion', r.version));
    await this.persist(() =>
      this.service.patchSpec({ traffic: [{ revisionName: r.revision, percent: 100 }] }),
    );
    await this.waitFor(
      (s) => servedPercent(s, r.revision) === 100,
      this.o.policy.canary.ready_timeout_seconds * 1000,
    );
    await this.persist(() => registry.deleteAlias(modelName, 'challenger'));
    const seconds = (Date.now() - r.startedAt) / 1000;
    await this.persist(() =>
      registry.setTags(modelName, r.version, {
        [TAG.finishedAt]: new Date().toISOString(),
        [TAG.state]: 'promoted',
      }),
    );
    this.o.metrics.promotions.inc();
    this.o.metrics.rolloutDuration.observe({ outcome: 'promoted' }, seconds);
    this.o.log.info({ version: r.version, revision: r.revision, seconds }, 'promoted');
  }

  private async rollback(r: ActiveRollout, reason: string, messages: string[]): Promise<void> {
    const { registry, modelName } = this.o;
    r.phase = 'rolling_back';
    // Aliases leave the version before traffic does.
    const challenger = await this.persist(() => registry.getAlias(modelName, 'challenger'));
    if (challenger?.version === r.version)
      await this.persist(() => registry.deleteAlias(modelName, 'challenger'));
    const champion = await this.persist(() => registry.getAlias(modelName, 'champion'));
    if (champion?.version === r.version) {
      if (r.previousVersion)
        await this.persist(() => registry.setAlias(modelName, 'champion', r.previousVersion as string));
      else await this.persist(() => registry.deleteAlias(modelName, 'champion'));
    }
    const service = await this.persist(() => this.service.get());
    const stillRouted = (service.spec.traffic ?? []).some((t) => t.revisionName === r.revision);
    if (stillRouted && r.previousRevision) {
      await this.persist(() =>
        this.service.patchSpec({ traffic: [{ revisionName: r.previousRevision, percent: 100 }] }),
      );
    }
    await this.persist(() =>
      registry.setTags(modelName, r.version, {
        [TAG.reasons]: JSON.stringify(messages),
        [TAG.finishedAt]: new Date().toISOString(),
        [TAG.state]: 'rolled_back',
      }),
    );
    this.o.metrics.rollbacks.inc({ reason });
    this.o.metrics.rolloutDuration.observe({ outcome: 'rolled_back' }, (Date.now() - r.startedAt) / 1000);
    this.o.log.warn({ version: r.version, reason, messages }, 'rolled back');
  }

  /** Polls the Service until `done` holds or the timeout passes; Kubernetes outages only delay it. */
  private async waitFor(done: (s: KnativeService) => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const service = await this.persist(() => this.service.get());
      if (done(service)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(this.o.statusPollMs, this.abort.signal);
    }
  }

  /**
   * After a restart: find an interrupted rollout in the Knative Service and the MLflow tags, and finish
   * it. Retries until both are reachable. Safe to call more than once.
   */
  recover(): Promise<void> {
    return this.exclusive(async () => {
      // No rollout target: nothing in Kubernetes to finish; a version interrupted before its
      // rollout.state was written is gated and promoted again when its event is redelivered.
      if (this.active || !this.o.service) return;
      const { registry, modelName } = this.o;
      const service = await this.persist(() => this.service.get());
      const canary = canaryTarget(service);
      if (canary?.revisionName) {
        const version = versionOfRevision(this.service.name, canary.revisionName);
        const previousRevision = (service.spec.traffic ?? []).find((t) => t !== canary)?.revisionName;
        if (!version || !previousRevision) {
          this.o.log.error({ canary }, 'canary traffic target not created by this hook; leaving it alone');
          return;
        }
        const mv = await this.persist(() => registry.getVersion(modelName, version));
        const champion = await this.persist(() => registry.getAlias(modelName, 'champion'));
        const previousVersion = mv.tags[TAG.previousVersion] || undefined;
        const startedAt = Date.parse(mv.tags[TAG.startedAt] ?? '') || Date.now();
        const r: ActiveRollout = {
          version,
          revision: canary.revisionName,
          previousRevision,
          previousVersion,
          phase: 'waiting_ready',
          startedAt,
        };
        this.o.log.info({ version, revision: r.revision }, 'recovering an interrupted rollout');
        // champion already moved means the promotion had been decided: finish it, do not re-judge it.
        this.begin(r, champion?.version === version ? 'promote' : 'start');
        return;
      }
      const stuck = (await this.persist(() => registry.listVersions(modelName))).filter(
        (v) => v.tags[TAG.state] === 'canary',
      );
      for (const mv of stuck) {
        const revision = mv.tags[TAG.revision] ?? revisionNameFor(this.service.name, mv.version);
        const r: ActiveRollout = {
          version: mv.version,
          revision,
          previousRevision: mv.tags[TAG.previousRevision] ?? '',
          previousVersion: mv.tags[TAG.previousVersion] || undefined,
          phase: 'promoting',
          startedAt: Date.parse(mv.tags[TAG.startedAt] ?? '') || Date.now(),
        };
        if (
          servedPercent(service, revision) === 100 ||
          (service.spec.traffic ?? []).some((t) => t.revisionName === revision && t.percent === 100)
        ) {
          this.o.log.info({ version: mv.version }, 'finishing an interrupted promotion');
          this.begin(r, 'promote');
          await this.running;
        } else {
          this.o.log.info({ version: mv.version }, 'finishing an interrupted rollback');
          await this.rollback(r, 'interrupted', ['rollout interrupted before its canary was serving']);
        }
      }
    });
  }
}
