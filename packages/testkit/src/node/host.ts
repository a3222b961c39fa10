// What a node run changes on the host, recorded so that stop() — or the next start after a SIGKILL — can undo
// all of it: processes, mounts under the run's dir, the bridge and its veths, the nftables tables it owns,
// the cgroups under its own cgroup root, sysctls the kubelet sets, CNI result files.
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { processAlive } from '../process.ts';

const run = promisify(execFile);

/** Where every run records its state; the next start cleans up what a killed run left. */
export const stateDir = process.env.FRAUD_NODE_STATE_DIR ?? '/run/fraud-node';

export interface NodeState {
  id: string;
  /** The test process that started the node; dead means the run was killed. */
  ownerPid: number;
  dataDir: string;
  bridge: string;
  /** Host route to the Service range through the bridge (gone with the bridge, recorded for clarity). */
  serviceCidr: string;
  /** nftables tables this run created, as "family name". */
  nftTables: string[];
  /** The cgroup under each v1 controller that holds every pod of this run. */
  cgroupRoot: string;
  /** Sysctl values before start (path under /proc/sys -> value), restored at stop. */
  sysctls: Record<string, string>;
  /** Processes started, with a string their command line must hold (guards against pid reuse). */
  pids: { pid: number; name: string }[];
  /** CNI network name, whose result cache files under /var/lib/cni are removed. */
  cniNetwork: string;
  /** Dirs that did not exist before start (only this run can have filled them): removed at stop. */
  createdDirs: string[];
}

/** The sysctls the kubelet (setupKernelTunables) and kube-proxy may set, plus the forwarding switches. */
export const watchedSysctls = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'net/ipv4/ip_forward',
  'net/ipv4/conf/all/forwarding',
  'net/ipv4/conf/all/route_localnet',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
  'net/netfilter/nf_conntrack_max',
  'net/netfilter/nf_conntrack_tcp_timeout_established',
  'net/netfilter/nf_conntrack_tcp_timeout_close_wait',
];

export function readSysctls(): Record<string, string> {
  const values: Record<string, string> = {};
  for (const key of watchedSysctls) {
    try {
      values[key] = readFileSync(`/proc/sys/${key}`, 'utf8').trim();
    } catch {
      // not present on this kernel
    }
  }
  return values;
}

export function stateFile(id: string): string {
  return path.join(stateDir, `${id}.json`);
}

export function saveState(state: NodeState): void {
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(stateFile(state.id), JSON.stringify(state, null, 2));
}

// Host tools by absolute path: under npm scripts, node_modules/.bin comes first on PATH, and it holds an
// unrelated `nft` (@vercel/nft) that prints nothing for `nft list ruleset`.
const systemDirs = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The absolute path of a system tool (never one from node_modules/.bin). */
export function hostTool(name: string): string {
  for (const dir of systemDirs) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} is not installed in ${systemDirs.join(', ')}`);
}

export async function sh(file: string, args: string[], input?: string): Promise<string> {
  const child = run(file.includes('/') || file === 'kubectl' ? file : hostTool(file), args, {
    maxBuffer: 64 * 1024 * 1024,
  });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    return (await child).stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Pids of processes whose command line mentions the run's data dir (its daemons and containerd's shims). */
function processesOf(dataDir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => pid !== process.pid && cmdline(pid).includes(dataDir));
}

const v1Controllers = () =>
  readdirSync('/sys/fs/cgroup').filter((c) => {
    try {
      return !readlinkSync(`/sys/fs/cgroup/${c}`); // skip symlinks such as cpu,cpuacct aliases
    } catch {
      return c !== 'unified';
    }
  });

function cgroupDirs(root: string): string[] {
  return v1Controllers()
    .map((c) => path.join('/sys/fs/cgroup', c, root))
    .filter((d) => existsSync(d));
}

function pidsInCgroups(root: string): number[] {
  const pids = new Set<number>();
  const walk = (dir: string) => {
    try {
      for (const line of readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n'))
        if (line) pids.add(Number(line));
      for (const entry of readdirSync(dir, { withFileTypes: true }))
        if (entry.isDirectory()) walk(path.join(dir, entry.name));
    } catch {
      // removed meanwhile
    }
  };
  for (const dir of cgroupDirs(root)) walk(dir);
  return [...pids];
}

function removeCgroupTree(dir: string): void {
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true }))
      if (entry.isDirectory()) removeCgroupTree(path.join(dir, entry.name));
    rmdirSync(dir);
  } catch {
    // already gone, or still busy (reported by the caller's check)
  }
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function waitGone(pids: number[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (pids.some(processAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/**
 * Undoes everything a run recorded, in an order that lets each step succeed: processes (daemons, shims,
 * then anything left in its cgroups), mounts, veths and the bridge, nftables tables, cgroups, sysctls, files.
 * Returns what could not be removed (empty when the host is back as it was).
 */
export async function teardown(state: NodeState, graceful = true): Promise<string[]> {
  const problems: string[] = [];
  const recorded = state.pids
    .filter((p) => processAlive(p.pid) && cmdline(p.pid).includes(p.name))
    .map((p) => p.pid);
  if (graceful) {
    for (const pid of recorded) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    await waitGone(recorded, 5_000);
  }
  for (let round = 0; round < 5; round++) {
    const left = [
      ...recorded.filter(processAlive),
      ...processesOf(state.dataDir),
      ...pidsInCgroups(state.cgroupRoot),
    ];
    if (left.length === 0) break;
    killAll(left);
    await waitGone(left, 3_000);
  }
  const survivors = [...processesOf(state.dataDir), ...pidsInCgroups(state.cgroupRoot)];
  if (survivors.length > 0) problems.push(`processes still running: ${survivors.join(', ')}`);

  for (const mount of mountsUnder(state.dataDir)) {
    try {
      await sh('umount', [mount]);
    } catch {
      try {
        await sh('umount', ['-l', mount]);
      } catch (error) {
        problems.push(`umount ${mount}: ${(error as Error).message}`);
      }
    }
  }

  if (existsSync(`/sys/class/net/${state.bridge}`)) {
    const ports = readdirSync(`/sys/class/net/${state.bridge}/brif`);
    for (const port of ports) await sh('ip', ['link', 'del', port]).catch(() => undefined);
    await sh('ip', ['link', 'del', state.bridge]).catch((e: Error) => problems.push(e.message));
  }

  const tables = await sh('nft', ['list', 'tables']).catch(() => '');
  for (const table of state.nftTables) {
    if (tables.includes(`table ${table}\n`) || tables.endsWith(`table ${table}`)) {
      await sh('nft', ['delete', 'table', ...table.split(' ')]).catch((e: Error) => problems.push(e.message));
    }
  }

  for (const dir of cgroupDirs(state.cgroupRoot)) removeCgroupTree(dir);
  const leftCgroups = cgroupDirs(state.cgroupRoot);
  if (leftCgroups.length > 0) problems.push(`cgroups left: ${leftCgroups.join(', ')}`);

  for (const [key, value] of Object.entries(state.sysctls)) {
    try {
      if (readFileSync(`/proc/sys/${key}`, 'utf8').trim() !== value) writeFileSync(`/proc/sys/${key}`, value);
    } catch (error) {
      if (existsSync(`/proc/sys/${key}`)) problems.push(`sysctl ${key}: ${(error as Error).message}`);
    }
  }

  const results = '/var/lib/cni/results';
  if (existsSync(results)) {
    for (const f of readdirSync(results))
      if (f.startsWith(`${state.cniNetwork}-`)) rmSync(path.join(results, f));
  }
  // The kubelet links every container log into this fixed dir; drop the links into this run's dir.
  const containerLogs = '/var/log/containers';
  if (existsSync(containerLogs)) {
    for (const f of readdirSync(containerLogs)) {
      const link = path.join(containerLogs, f);
      try {
        if (readlinkSync(link).startsWith(state.dataDir)) rmSync(link);
      } catch {
        // not a link
      }
    }
  }
  // Dirs that did not exist before this run (/var/lib/cni, /run/containerd for the shims' sockets, ...).
  for (const dir of [...state.createdDirs].reverse()) rmSync(dir, { recursive: true, force: true });
  rmSync(state.dataDir, { recursive: true, force: true });
  if (existsSync(state.dataDir)) problems.push(`could not remove ${state.dataDir}`);
  rmSync(stateFile(state.id), { force: true });
  return problems;
}

/** Tears down every recorded run whose owner process is gone (a SIGKILLed test); returns the ids cleaned. */
export async function cleanStale(): Promise<string[]> {
  if (!existsSync(stateDir)) return [];
  const cleaned: string[] = [];
  for (const file of readdirSync(stateDir).filter((f) => f.endsWith('.json'))) {
    let state: NodeState;
    try {
      state = JSON.parse(readFileSync(path.join(stateDir, file), 'utf8')) as NodeState;
    } catch {
      rmSync(path.join(stateDir, file), { force: true });
      continue;
    }
    if (state.ownerPid !== process.pid && processAlive(state.ownerPid)) continue;
    // A killed run's processes and cgroups can take a moment to go (shims reaped, cgroups emptied), so a
    // few rounds; what still cannot be undone is reported, not thrown: a stale run's leftovers must not stop
    // the next start, which fails by itself, naming the part, if one of them is really in its way.
    let problems = await teardown(state, false);
    for (let round = 1; round < 3 && problems.length > 0; round++) {
      await new Promise((r) => setTimeout(r, 2_000));
      problems = await teardown(state, false);
    }
    if (problems.length > 0)
      console.warn(`[node] stale run ${state.id} left what could not be undone: ${problems.join('; ')}`);
    cleaned.push(state.id);
  }
  return cleaned;
}

/** The host's network state as text: routes, links, nftables and iptables rules (timestamps stripped). */
export async function hostNetworkSnapshot(): Promise<Record<string, string>> {
  const strip = (s: string) =>
    s
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
  return {
    'ip route': await sh('ip', ['route', 'show', 'table', 'all']),
    'ip -6 route': await sh('ip', ['-6', 'route', 'show', 'table', 'all']),
    'ip link': await sh('ip', ['-d', 'link']),
    'ip addr': await sh('ip', ['addr']),
    'nft list ruleset': await sh('nft', ['list', 'ruleset']),
    'iptables-save': strip(await sh('iptables-save', [])),
    'ip6tables-save': strip(await sh('ip6tables-save', [])),
    mounts: readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ').slice(3, 5).join(' '))
      .sort()
      .join('\n'),
    sysctls: JSON.stringify(readSysctls()),
  };
}
