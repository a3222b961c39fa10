// Starts Debian's Prometheus on a free loopback port with its data in a temp dir, for tests and the drill.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { debianTool } from './install/debian.ts';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitUntilReadyOrStop } from './process.ts';

export interface ScrapeTarget {
  job: string;
  /** host:port entries */
  targets: string[];
  /** Extra labels on every series of this job (how the drill marks local "revisions"). */
  labels?: Record<string, string>;
  metricsPath?: string;
}

/** A rule file: a path to a plain `groups:` file, or its content as an object. */
export type RuleFile = string | { groups: unknown[] };

export interface PrometheusOptions {
  rules?: RuleFile[];
  scrapeTargets?: ScrapeTarget[];
  /** Whole scrape_configs entries, appended as given (kubernetes_sd_configs jobs of the live node). */
  extraScrapeConfigs?: object[];
  /** e.g. http://127.0.0.1:9193 — where firing alerts are sent. */
  alertmanagerUrl?: string;
  evaluationInterval?: string;
  scrapeInterval?: string;
  /** How often firing alerts are re-sent; short by default so an alert raised before the Alertmanager
   * was discovered is not held back for Prometheus' default minute. */
  resendDelay?: string;
  startTimeoutMs?: number;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  activeAt?: string;
  value?: string;
}

export interface RunningPrometheus {
  url: string;
  port: number;
  dir: string;
  process: ManagedProcess;
  /** Instant query; throws with Prometheus' own error text on a bad expression. */
  query(expr: string): Promise<PromSample[]>;
  /** Alerts in pending or firing state, as the rule manager sees them. */
  alerts(): Promise<PrometheusAlert[]>;
  stop(): Promise<void>;
}

/** The prometheus.yml for the given options; JSON is valid YAML, so no YAML library is needed here. */
export function prometheusConfig(
  options: PrometheusOptions,
  ruleFiles: string[],
  selfAddress: string,
): object {
  const scrapeInterval = options.scrapeInterval ?? '1s';
  return {
    global: {
      scrape_interval: scrapeInterval,
      scrape_timeout: scrapeInterval,
      evaluation_interval: options.evaluationInterval ?? '1s',
    },
    rule_files: ruleFiles,
    ...(options.alertmanagerUrl
      ? {
          alerting: {
            alertmanagers: [
              {
                scheme: new URL(options.alertmanagerUrl).protocol.replace(':', ''),
                static_configs: [{ targets: [new URL(options.alertmanagerUrl).host] }],
              },
            ],
          },
        }
      : {}),
    scrape_configs: [
      { job_name: 'prometheus', static_configs: [{ targets: [selfAddress] }] },
      ...(options.scrapeTargets ?? []).map((t) => ({
        job_name: t.job,
        metrics_path: t.metricsPath ?? '/metrics',
        static_configs: [{ targets: t.targets, labels: t.labels ?? {} }],
      })),
      ...(options.extraScrapeConfigs ?? []),
    ],
  };
}

export async function startPrometheus(options: PrometheusOptions = {}): Promise<RunningPrometheus> {
  const binary = await debianTool('prometheus');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fraud-prometheus-'));
  const port = await freePort();
  const ruleFiles = (options.rules ?? []).map((rule, i) => {
    if (typeof rule === 'string') return path.resolve(rule);
    const file = path.join(dir, `rules-${i}.json`);
    writeFileSync(file, JSON.stringify(rule));
    return file;
  });
  const configFile = path.join(dir, 'prometheus.json');
  writeFileSync(
    configFile,
    JSON.stringify(prometheusConfig(options, ruleFiles, `127.0.0.1:${port}`), null, 2),
  );
  const proc = startProcess({
    name: 'prometheus',
    command: binary,
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1d',
      `--rules.alert.resend-delay=${options.resendDelay ?? '2s'}`,
      '--log.level=warn',
    ],
    logDir: dir,
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  await waitUntilReadyOrStop(
    proc,
    `Prometheus ready at ${url}`,
    async () => (await fetch(`${url}/-/ready`)).ok,
    options.startTimeoutMs ?? 30_000,
  );
  return {
    url,
    port,
    dir,
    process: proc,
    stop,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      const body = (await response.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: unknown };
      };
      if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
      if (body.data?.resultType === 'scalar') {
        return [{ metric: {}, value: body.data.result as [number, string] }];
      }
      return (body.data?.result ?? []) as PromSample[];
    },
    async alerts() {
      const response = await fetch(`${url}/api/v1/alerts`);
      const body = (await response.json()) as { data: { alerts: PrometheusAlert[] } };
      return body.data.alerts;
    },
  };
}
