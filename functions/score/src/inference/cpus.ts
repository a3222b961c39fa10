// How many CPUs this process really has: the smaller of os.availableParallelism() (affinity, e.g. taskset)
// and the cgroup CPU quota (a Kubernetes CPU limit), under cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The CPU quota in CPUs (e.g. 0.5, 2), or undefined when there is none. */
export function cgroupCpuQuota(root = '/sys/fs/cgroup'): number | undefined {
  const v2 = read(path.join(root, 'cpu.max'))?.split(/\s+/);
  if (v2 && v2[0] !== 'max') {
    const [quota, period] = v2.map(Number);
    if (quota && period && quota > 0) return quota / period;
  }
  for (const dir of ['cpu', 'cpu,cpuacct']) {
    const quota = Number(read(path.join(root, dir, 'cpu.cfs_quota_us')));
    const period = Number(read(path.join(root, dir, 'cpu.cfs_period_us')));
    if (quota > 0 && period > 0) return quota / period;
  }
  return undefined;
}

export function availableCpus(root?: string): number {
  const quota = cgroupCpuQuota(root);
  const parallelism = os.availableParallelism();
  return quota === undefined ? parallelism : Math.min(parallelism, quota);
}

/**
 * auto → inline up to 2 CPUs, else worker threads. With one CPU a second thread has nothing to run on; with two,
 * measured (BENCHMARKS.md, issue 12): inline answers single-transaction requests, the shape of every event and
 * most calls, 15–20 % faster and with a lower p99, because the second core is busy with the kernel's network
 * work and the clients; workers win only for large multi-row requests (+28 % at 100 rows), set them explicitly.
 */
export function resolveInferenceMode(
  mode: 'inline' | 'workers' | 'auto',
  cpus: number = availableCpus(),
): 'inline' | 'workers' {
  if (mode !== 'auto') return mode;
  return cpus <= 2 ? 'inline' : 'workers';
}
