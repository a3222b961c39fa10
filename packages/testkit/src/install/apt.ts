// Installs Debian packages with apt-get, once, for every installer that needs one (Prometheus, PostgreSQL).
// Idempotent: packages already installed are skipped, and the maintainer scripts never start a daemon.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

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

// The shell step runs under flock so parallel test workers install once; it re-checks (dpkg-query) after
// taking the lock. policy-rc.d answering 101 stops the packages' maintainer scripts from starting daemons
// (prometheus, alertmanager, the postgresql cluster): on a machine without systemd invoke-rc.d would
// otherwise try, and fail or leave them running.
const installScript = `
set -eu
missing=""
for pkg in "$@"; do
  dpkg-query -W -f='\${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $pkg"
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

/**
 * `apt-get install` the packages that are not installed yet (as root, or through `sudo -n`).
 * `hint` says what to install by hand on a machine without apt-get.
 */
export async function aptInstall(packages: string[], hint: string): Promise<void> {
  if (!which('apt-get')) {
    throw new Error(`there is no apt-get to install ${packages.join(', ')}: ${hint}`);
  }
  const asRoot = process.getuid?.() === 0;
  if (!asRoot && !which('sudo')) {
    throw new Error(`installing ${packages.join(', ')} needs root or sudo; run \`npm run setup\` as root`);
  }
  const command = [...(asRoot ? [] : ['sudo', '-n']), 'flock', '-w', '900', '/tmp/fraud-debian-tools.lock'];
  const [file, ...args] = [...command, 'sh', '-c', installScript, 'apt-install', ...packages];
  try {
    await run(file!, args, { maxBuffer: 64 * 1024 * 1024, timeout: 20 * 60_000 });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(
      `apt-get install ${packages.join(' ')} failed: ${e.stderr?.trim().split('\n').slice(-15).join('\n') ?? e.message}`,
    );
  }
}
