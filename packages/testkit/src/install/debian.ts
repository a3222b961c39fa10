// Installs Debian's Prometheus and Alertmanager (promtool, amtool, the servers) when they are missing.
// Idempotent: it only calls apt-get when a binary is absent, and it never leaves a daemon running.
import { aptInstall, which } from './apt.ts';

export { which };

/** The binaries the monitoring tests and the drill need, and the Debian package that ships each. */
export const debianTools = {
  prometheus: { binary: 'prometheus', pkg: 'prometheus' },
  promtool: { binary: 'promtool', pkg: 'prometheus' },
  alertmanager: { binary: 'prometheus-alertmanager', pkg: 'prometheus-alertmanager' },
  amtool: { binary: 'amtool', pkg: 'prometheus-alertmanager' },
} as const;

export type DebianTool = keyof typeof debianTools;

/** The absolute path of a tool, installing its package first if needed. */
export async function debianTool(tool: DebianTool): Promise<string> {
  await ensureDebianTools();
  const found = which(debianTools[tool].binary);
  if (!found)
    throw new Error(`${debianTools[tool].binary} is still missing after installing ${debianTools[tool].pkg}`);
  return found;
}

let pending: Promise<void> | undefined;

/**
 * Makes sure prometheus, promtool, prometheus-alertmanager and amtool are on PATH, installing Debian's
 * `prometheus` and `prometheus-alertmanager` packages (apt-get, as root or through sudo) when they are not.
 */
export function ensureDebianTools(): Promise<void> {
  pending ??= install().catch((error: unknown) => {
    pending = undefined;
    throw error;
  });
  return pending;
}

async function install(): Promise<void> {
  const tools = Object.values(debianTools);
  if (tools.every((t) => which(t.binary))) return;
  if (!which('apt-get')) {
    const missing = tools.filter((t) => !which(t.binary)).map((t) => t.binary);
    throw new Error(
      `missing ${missing.join(', ')} and there is no apt-get to install them: install Prometheus 2.x and Alertmanager 0.2x so that these binaries are on PATH`,
    );
  }
  await aptInstall(
    [...new Set(tools.map((t) => t.pkg))],
    'install Prometheus 2.x and Alertmanager 0.2x so that these binaries are on PATH',
  );
  const still = tools.filter((t) => !which(t.binary)).map((t) => t.binary);
  if (still.length > 0) throw new Error(`after apt-get install, still missing: ${still.join(', ')}`);
}
