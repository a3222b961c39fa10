// The pods of the stand-in Knative controller: one real scorer process (functions/score) per revision that
// should run, on a free loopback port, with the env the revision's template carries. A revision counts as
// Ready only once its scorer's /health/readiness answers 200 (so a model that cannot load — unreachable,
// damaged, sha256 mismatch — leaves it not Ready, as Knative's readiness probe would). Test-only.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '@fraud/testkit/ports';
import { type ManagedProcess, startProcess } from '@fraud/testkit/process';
import { packageRoot } from './hook.ts';

export const scoreFunctionDir = path.join(packageRoot, '..', 'score');

export interface ScorerPod {
  revision: string;
  url: string;
  port: number;
  process: ManagedProcess;
  /** Readiness answered 200 at least once (Knative keeps a revision Ready once it was). */
  ready: boolean;
  /** The last readiness body while not ready, e.g. the scorer's reason for refusing a model. */
  lastReason: string;
  startedAt: number;
  readyAt?: number;
}

export interface ScorerRevisionsOptions {
  /** Folder for model caches and scorer logs (one per stack, so no stale cache crosses runs). */
  dir: string;
  /** Extra or replaced env per revision (fault injection in e2e-stack.mts); the template's env otherwise. */
  envFor?: (revision: string, env: Record<string, string>) => Record<string, string>;
  /** Called whenever the set of running scorers changes (Prometheus targets follow it). */
  onChange?: (pods: ScorerPod[]) => void;
}

export class ScorerRevisions {
  private readonly pods = new Map<string, ScorerPod>();
  private readonly everReady = new Set<string>();
  /** Crashed scorers are restarted with a doubling delay, like the kubelet's CrashLoopBackOff. */
  private readonly crashes = new Map<string, { count: number; restartAt: number }>();
  private stopped = false;

  constructor(private readonly options: ScorerRevisionsOptions) {
    mkdirSync(path.join(options.dir, 'logs'), { recursive: true });
  }

  /** Starts the revisions in `wanted` that have no scorer and stops ("scales to zero") the others. */
  async reconcile(wanted: Map<string, Record<string, string>>): Promise<void> {
    if (this.stopped) return;
    for (const [revision, env] of wanted) {
      if (this.pods.has(revision) || (this.crashes.get(revision)?.restartAt ?? 0) > Date.now()) continue;
      await this.start(revision, env);
    }
    for (const revision of [...this.pods.keys()]) if (!wanted.has(revision)) await this.stopOne(revision);
  }

  isReady(revision: string): boolean {
    return this.everReady.has(revision);
  }

  /** The URL of a revision's scorer while it runs and is ready (what the feeder may send to). */
  urlOf(revision: string): string | undefined {
    const pod = this.pods.get(revision);
    return pod?.ready ? pod.url : undefined;
  }

  pod(revision: string): ScorerPod | undefined {
    return this.pods.get(revision);
  }

  running(): ScorerPod[] {
    return [...this.pods.values()];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.pods.keys()].map((r) => this.stopOne(r)));
  }

  private async start(revision: string, templateEnv: Record<string, string>): Promise<void> {
    const port = await freePort();
    const env = this.options.envFor?.(revision, templateEnv) ?? templateEnv;
    const child = startProcess({
      name: `scorer-${revision}`,
      command: process.execPath,
      args: ['--import', 'tsx', 'src/index.ts'],
      cwd: scoreFunctionDir,
      logDir: path.join(this.options.dir, 'logs'),
      env: {
        LOG_LEVEL: 'warn',
        MODEL_CACHE_DIR: path.join(this.options.dir, 'model-cache'),
        ...env,
        PORT: String(port),
        HOST: '127.0.0.1',
      },
    });
    const pod: ScorerPod = {
      revision,
      url: `http://127.0.0.1:${port}`,
      port,
      process: child,
      ready: false,
      lastReason: 'starting',
      startedAt: Date.now(),
    };
    this.pods.set(revision, pod);
    // A scorer that dies is gone from the running set; a later reconcile starts it again (as the kubelet would).
    void child.exited.then(() => {
      if (this.pods.get(revision) === pod) {
        const count = (this.crashes.get(revision)?.count ?? 0) + 1;
        this.crashes.set(revision, {
          count,
          restartAt: Date.now() + Math.min(30_000, 1000 * 2 ** (count - 1)),
        });
        this.pods.delete(revision);
        this.options.onChange?.(this.running());
      }
    });
    void this.probe(pod);
    this.options.onChange?.(this.running());
  }

  /** Knative's readiness probe: polls until 200, remembering the scorer's reason meanwhile. */
  private async probe(pod: ScorerPod): Promise<void> {
    while (this.pods.get(pod.revision) === pod && !this.stopped) {
      try {
        const response = await fetch(`${pod.url}/health/readiness`, { signal: AbortSignal.timeout(2000) });
        if (response.ok) {
          pod.ready = true;
          pod.readyAt = Date.now();
          pod.lastReason = 'ready';
          this.everReady.add(pod.revision);
          return;
        }
        pod.lastReason = await response.text();
      } catch (error) {
        pod.lastReason = (error as Error).message;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async stopOne(revision: string): Promise<void> {
    const pod = this.pods.get(revision);
    if (!pod) return;
    this.pods.delete(revision);
    this.options.onChange?.(this.running());
    await pod.process.stop(5000);
  }
}
