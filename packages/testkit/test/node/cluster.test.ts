// The real single-node cluster: pods run in real containers, reach each other and are reached from the host
// through the node's bridge and kube-proxy, and stop() — or the next start after a SIGKILL — leaves the host's
// routes, links, nftables/iptables rules, mounts and sysctls exactly as they were.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { startCluster } from '../../src/node/cluster.ts';
import { cleanStale, hostNetworkSnapshot, stateDir } from '../../src/node/host.ts';
import { pauseImage } from '../../src/node/pause-image.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

const probe = `apiVersion: apps/v1
kind: Deployment
metadata: { name: probe, namespace: default }
spec:
  replicas: 2
  selector: { matchLabels: { app: probe } }
  template:
    metadata: { labels: { app: probe } }
    spec:
      automountServiceAccountToken: false
      securityContext: { runAsNonRoot: true, runAsUser: 65535 }
      containers:
        - name: probe
          image: ${pauseImage}
          imagePullPolicy: Never
          args: [probe-http, ':8080']
          ports: [{ containerPort: 8080 }]
          readinessProbe: { httpGet: { path: /, port: 8080 }, periodSeconds: 1 }
          resources:
            requests: { cpu: 10m, memory: 16Mi }
            limits: { cpu: 100m, memory: 32Mi }
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: { drop: [ALL] }
---
apiVersion: v1
kind: Service
metadata: { name: probe, namespace: default }
spec:
  selector: { app: probe }
  ports: [{ port: 80, targetPort: 8080 }]
`;

function diff(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys(before)
    .filter((k) => before[k] !== after[k])
    .map((k) => `${k} changed:\n--- before\n${before[k]}\n--- after\n${after[k]}`);
}

test.serial(
  'a real node runs pods reachable by pod IP and ClusterIP, and stop leaves the host as it was',
  async (t) => {
    t.timeout(20 * 60_000);
    await cleanStale();
    const before = await hostNetworkSnapshot();
    const started = Date.now();
    const cluster = await startCluster();
    t.log(`node Ready ${((Date.now() - started) / 1000).toFixed(1)} s after start (binaries cached)`);
    try {
      t.regex(cluster.versions.kubelet, /^v1\.\d+\.\d+/);
      t.regex(cluster.versions.containerd, /^v2\.\d+\.\d+/);
      await cluster.kubectl(['apply', '-f', '-'], probe);
      await cluster.kubectl(['rollout', 'status', 'deployment/probe', '--timeout=180s']);
      const ips = (
        await cluster.kubectl(['get', 'pods', '-l', 'app=probe', '-o', 'jsonpath={.items[*].status.podIP}'])
      ).split(' ');
      t.is(ips.length, 2);
      for (const ip of ips) {
        t.true(ip.startsWith('10.213.0.'), `pod IP ${ip} inside the node's pod range`);
        t.is(await (await fetch(`http://${ip}:8080/`)).text(), 'ok');
      }
      const clusterIp = await cluster.kubectl([
        'get',
        'service',
        'probe',
        '-o',
        'jsonpath={.spec.clusterIP}',
      ]);
      t.is(
        await eventually(`http://${clusterIp}/`, 30_000),
        'ok',
        'the ClusterIP answers through kube-proxy',
      );
      // The CPU limit really is enforced by the container's cgroup (v1 cfs quota: 100m = 10000 of 100000).
      const podUid = await cluster.kubectl([
        'get',
        'pods',
        '-l',
        'app=probe',
        '-o',
        'jsonpath={.items[0].metadata.uid}',
      ]);
      const quota = findCfsQuota(cluster.cgroupRoot, podUid);
      t.is(quota, '10000');
    } finally {
      await cluster.stop();
    }
    t.deepEqual(diff(before, await hostNetworkSnapshot()), []);
    t.false(existsSync(cluster.dataDir));
  },
);

test.serial('after a SIGKILLed run, the next start cleans everything it left', async (t) => {
  t.timeout(20 * 60_000);
  const before = await hostNetworkSnapshot();
  const child = spawn(process.execPath, ['--import=tsx', path.join(here, 'start-and-wait.mts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = out.match(/^ready (\S+)$/m);
      if (m) resolve(m[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`the node run exited early (code ${code}): ${out}`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  t.true(existsSync(ready), 'the killed run left its data dir');
  t.notDeepEqual(diff(before, await hostNetworkSnapshot()), [], 'the killed run left host changes');
  const cleaned = await cleanStale();
  t.is(cleaned.length, 1);
  t.deepEqual(diff(before, await hostNetworkSnapshot()), []);
  t.false(existsSync(ready));
  t.false(existsSync(path.join(stateDir, `${path.basename(ready)}.json`)));
});

/**
 * GET `url`'s body, retrying while the connection fails: kube-proxy programs a new Service's rules on its own
 * sync loop, so the ClusterIP can lag the pods' readiness by a moment (CI once hit that gap).
 */
async function eventually(url: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await (await fetch(url, { signal: AbortSignal.timeout(2000) })).text();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms: ${error}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The CFS quota of the pod's app container, read from its v1 cgroup under the node's own cgroup root. */
function findCfsQuota(cgroupRoot: string, podUid: string): string | undefined {
  const kubepods = path.join('/sys/fs/cgroup/cpu', cgroupRoot, 'kubepods');
  for (const qos of ['', 'burstable', 'besteffort']) {
    const pod = path.join(kubepods, qos, `pod${podUid}`);
    if (!existsSync(pod)) continue;
    for (const entry of readdirSync(pod, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const quota = readFileSync(path.join(pod, entry.name, 'cpu.cfs_quota_us'), 'utf8').trim();
      if (quota !== '-1') return quota;
    }
  }
  return undefined;
}
