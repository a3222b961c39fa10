// Starts Debian's Alertmanager on a free loopback port, clustering off, data in a temp dir.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { debianTool } from './install/debian.ts';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitUntilReadyOrStop } from './process.ts';

export interface AlertmanagerOptions {
  /** The configuration: YAML text, or an object (written as JSON, which is valid YAML). */
  config: string | object;
  /** Extra files next to the config (templates, secrets), by file name; `@@DIR@@` in the config is replaced by their folder. */
  files?: Record<string, string>;
  startTimeoutMs?: number;
}

export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: { state: 'active' | 'suppressed' | 'unprocessed'; inhibitedBy: string[]; silencedBy: string[] };
  startsAt: string;
  endsAt: string;
}

export interface RunningAlertmanager {
  url: string;
  port: number;
  /** The temp dir holding the config and any `files`; configs can refer to them by absolute path. */
  dir: string;
  process: ManagedProcess;
  /** Alerts Alertmanager currently holds (API v2). */
  alerts(): Promise<AlertmanagerAlert[]>;
  /** Posts alerts the way Prometheus does (API v2), for tests that bypass Prometheus. */
  post(
    alerts: { labels: Record<string, string>; annotations?: Record<string, string>; endsAt?: string }[],
  ): Promise<void>;
  stop(): Promise<void>;
}

export async function startAlertmanager(options: AlertmanagerOptions): Promise<RunningAlertmanager> {
  const binary = await debianTool('alertmanager');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fraud-alertmanager-'));
  for (const [name, content] of Object.entries(options.files ?? {}))
    writeFileSync(path.join(dir, name), content);
  const configFile = path.join(dir, 'alertmanager.yml');
  const text = typeof options.config === 'string' ? options.config : JSON.stringify(options.config, null, 2);
  writeFileSync(configFile, text.replaceAll('@@DIR@@', dir));
  // Debian's build reads its default notification templates from the package; keep a copy beside the config.
  try {
    copyFileSync('/usr/share/prometheus/alertmanager/default.tmpl', path.join(dir, 'default.tmpl'));
  } catch {
    // not a Debian layout; the binary's embedded templates apply
  }
  const port = await freePort();
  const proc = startProcess({
    name: 'alertmanager',
    command: binary,
    args: [
      `--config.file=${configFile}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=', // no gossip port: one instance, and no clash between parallel tests
      '--log.level=warn',
    ],
    logDir: dir,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilReadyOrStop(
    proc,
    `Alertmanager ready at ${url}`,
    async () => (await fetch(`${url}/-/ready`)).ok,
    options.startTimeoutMs ?? 30_000,
  );
  return {
    url,
    port,
    dir,
    process: proc,
    async alerts() {
      const response = await fetch(`${url}/api/v2/alerts`);
      if (!response.ok)
        throw new Error(`GET ${url}/api/v2/alerts: ${response.status} ${await response.text()}`);
      return (await response.json()) as AlertmanagerAlert[];
    },
    async post(alerts) {
      const response = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
      });
      if (!response.ok)
        throw new Error(`POST ${url}/api/v2/alerts: ${response.status} ${await response.text()}`);
    },
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
