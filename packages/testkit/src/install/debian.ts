// Installs Debian's Prometheus and Alertmanager (promtool, amtool, the servers) when they are missing.
// Idempotent: it only calls apt-get when a binary is absent, and it never leaves a daemon running.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The binaries the monitoring tests and the drill need, and the Debian package that ships each. */
export const debianTools = {
  prometheus: { binary: 'prometheus', pkg: 'prometheus' },
  promtool: { binary: 'promtool', pkg: 'prometheus' },
  alertmanager: { binary: 'prometheus-alertmanager', pkg: 'prometheus-alertmanager' },
  amtool: { binary: 'amtool', pkg: 'prometheus-alertmanager' },
} as const;

export type DebianTool = keyof typeof debianTools;

/** Absolute path of a binary on PATH, or undefined. */
export function which(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(path.delimiter)) {
    const candidate = path.join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The absolute path of a tool, installing its package first if needed. */
export async function debianTool(tool: DebianTool): Promise<string> {
  await ensureDebianTools();
  const found = which(debianTools[tool].binary);
  if (!found)
    throw new Error(`${debianTools[tool].binary} is still missing after installing ${debianTools[tool].pkg}`);
  return found;
}

// The shell step runs under flock so parallel test workers install once; it re-checks after taking the lock.
// policy-rc.d answering 101 stops the packages' maintainer scripts from starting prometheus/alertmanager
// daemons (on a machine without systemd invoke-rc.d would otherwise try, and fail or leave them running).
const installScript = `
set -eu
missing=""
for pair in "$@"; do
  bin="\${pair%%=*}"; pkg="\${pair#*=}"
  command -v "$bin" >/dev/null 2>&1 || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi
cleanup() { [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d; true; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
do_install() { apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 $missing; }
do_install || { apt-get update -o DPkg::Lock::Timeout=300 && do_install; }
`;

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
  const asRoot = process.getuid?.() === 0;
  if (!asRoot && !which('sudo')) {
    throw new Error(
      'installing prometheus/prometheus-alertmanager needs root or sudo; run `npm run setup` as root',
    );
  }
  const pairs = tools.map((t) => `${t.binary}=${t.pkg}`);
  const command = [...(asRoot ? [] : ['sudo', '-n']), 'flock', '-w', '900', '/tmp/fraud-debian-tools.lock'];
  const [file, ...args] = [...command, 'sh', '-c', installScript, 'install-debian-tools', ...pairs];
  try {
    await run(file!, args, { maxBuffer: 64 * 1024 * 1024, timeout: 20 * 60_000 });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(
      `apt-get install prometheus prometheus-alertmanager failed: ${e.stderr?.trim().split('\n').slice(-15).join('\n') ?? e.message}`,
    );
  }
  const still = tools.filter((t) => !which(t.binary)).map((t) => t.binary);
  if (still.length > 0) throw new Error(`after apt-get install, still missing: ${still.join(', ')}`);
}
