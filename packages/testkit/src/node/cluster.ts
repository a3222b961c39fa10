// A real single-node Kubernetes cluster for tests: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd 2 + runc, the kubelet and kube-proxy (nftables mode), on a bridge this run owns.
//
//   const cluster = await startCluster();
//   await cluster.importImage('/path/to/oci.tar');
//   await cluster.kubectl(['apply', '-f', 'deploy.yaml']);
//   await cluster.stop();
//
// Network: the bridge gets NODE_IP/24, pods get addresses from that /24, Services a /16 routed to the bridge.
// Pods have one route (the Service range, through the bridge): nothing routes them off the machine, there is
// no masquerade to the outside, and this run's own nftables table drops forwarding between the bridge and
// any other interface. Only kube-proxy's own `kube-proxy` tables and that table are added; neither the
// kubelet nor kube-proxy sees an iptables binary (their PATH leaves it out), so no iptables chain appears.
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { etcdArgs } from '../etcd.ts';
import { ensureNode, type NodeBinaries } from '../install/node.ts';
import { freePort } from '../ports.ts';
import { type ManagedProcess, startProcess, waitUntil } from '../process.ts';
import {
  cleanStale,
  hostTool,
  type NodeState,
  readSysctls,
  saveState,
  sh,
  stateDir,
  teardown,
} from './host.ts';
import { pauseImage, pauseImageArchive } from './pause-image.ts';
import { kubeconfigFor, makeNodePki } from './pki.ts';

export const nodeName = 'fraud-node';
export const nodeIp = '10.213.0.1';
export const podCidr = '10.213.0.0/24';
export const serviceCidr = '10.214.0.0/16';
export const apiServiceIp = '10.214.0.1';
export const dnsServiceIp = '10.214.0.10';

export interface ClusterOptions {
  /** Keep the data dir after stop(), for debugging (default false). */
  keepData?: boolean;
  /** How long to wait for the node to turn Ready (default 180 s). */
  readyTimeoutMs?: number;
}

export interface Cluster {
  kubeconfig: string;
  server: string;
  nodeName: string;
  nodeIp: string;
  /** The kubelet's HTTPS port on nodeIp (cAdvisor at /metrics/cadvisor). */
  kubeletPort: number;
  podCidr: string;
  serviceCidr: string;
  dataDir: string;
  /** The cgroup (under every v1 controller) holding all pods. */
  cgroupRoot: string;
  versions: { kubernetes: string; kubelet: string; containerd: string; runc: string };
  binaries: NodeBinaries;
  /** Every component, by name (etcd, kube-apiserver, ..., kubelet, kube-proxy). */
  processes: Record<string, ManagedProcess>;
  kubectl(args: string[], input?: string): Promise<string>;
  /** containerd's socket, for ctr or importImages(). */
  containerdAddress: string;
  /** Imports an OCI or docker archive into containerd's k8s.io namespace. */
  importImage(archive: string): Promise<void>;
  /** Runs ctr against this node's containerd (namespace k8s.io). */
  ctr(args: string[]): Promise<string>;
  /** Stops every component and undoes every host change; rejects listing what could not be undone. */
  stop(): Promise<void>;
}

function versionOf(binary: string, output: string): string {
  return output.match(/v\d+\.\d+\.\d+\S*/)?.[0] ?? `unknown (${binary})`;
}

/** Throws when another live run holds the node (one node per machine: fixed bridge addresses). */
function assertNoLiveRun(): void {
  if (!existsSync(stateDir)) return;
  for (const file of readdirSync(stateDir).filter((f) => f.endsWith('.json'))) {
    const state = JSON.parse(readFileSync(path.join(stateDir, file), 'utf8')) as NodeState;
    throw new Error(
      `another node run (${state.id}, test pid ${state.ownerPid}) is still active; one node per machine`,
    );
  }
}

function cniConfig(network: string, bridge: string, ipamDir: string): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: network,
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: false, // the test gave the bridge its address; the plugin must not turn on ip_forward
          ipMasq: false, // no masquerade: pods never reach beyond this machine
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: ipamDir,
            ranges: [[{ subnet: podCidr, gateway: nodeIp, rangeStart: '10.213.0.10' }]],
            routes: [{ dst: serviceCidr, gw: nodeIp }],
          },
        },
        { type: 'loopback' },
      ],
    },
    null,
    2,
  );
}

export function containerdConfig(d: string, bins: NodeBinaries): string {
  return `version = 3
root = "${d}/containerd/root"
state = "${d}/containerd/state"

[grpc]
  address = "${d}/containerd.sock"
[ttrpc]
  address = "${d}/containerd.sock.ttrpc"

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = "${d}/containerd/opt"
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "${pauseImage}"
  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    netns_mounts_under_state_dir = true
    # This machine withholds CAP_SYS_RESOURCE, so no process may lower its oom_score_adj: the kubelet's -998
    # for sandboxes would make runc init fail. Clamp every container's score at containerd's own (0).
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "${bins.runc}"
          Root = "${d}/runc"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["${bins.cniBinDir}"]
      conf_dir = "${d}/cni/net.d"
`;
}

function kubeletConfig(
  d: string,
  port: number,
  healthzPort: number,
  cgroupRoot: string,
  pkiDir: string,
): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: ${cgroupRoot}
containerRuntimeEndpoint: unix://${d}/containerd.sock
address: ${nodeIp}
port: ${port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${healthzPort}
tlsCertFile: ${pkiDir}/kubelet-serving.crt
tlsPrivateKeyFile: ${pkiDir}/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: ${pkiDir}/ca.crt }
authorization:
  mode: Webhook
clusterDomain: cluster.local
clusterDNS: [${dnsServiceIp}]
resolvConf: ${d}/resolv.conf
podLogsDir: ${d}/pod-logs
failSwapOn: false
serializeImagePulls: false
# Images come only from local archives: never collect them, and never evict for a busy shared disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
nodeStatusReportFrequency: 10s
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
fileCheckFrequency: 10s
registerNode: true
maxPods: 60
`;
}

function kubeProxyConfig(kubeconfig: string, healthzPort: number, metricsPort: number): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
hostnameOverride: ${nodeName}
clientConnection:
  kubeconfig: ${kubeconfig}
clusterCIDR: ${podCidr}
healthzBindAddress: 127.0.0.1:${healthzPort}
metricsBindAddress: 127.0.0.1:${metricsPort}
nodePortAddresses: [${nodeIp}/32]
# Zero: leave the host's conntrack table size and timeouts as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
nftables:
  # Service traffic leaves with the bridge's address, so replies from pods on the same bridge (and to the
  # host, which has no route from the pods' view) come back through the host and are un-NATed.
  masqueradeAll: true
`;
}

// This run's own table: the bridge may forward only to itself (not to eth0 or anything else).
function fenceTable(table: string, bridge: string): string {
  return `table ${table} {
  chain forward {
    type filter hook forward priority -10; policy accept;
    iifname "${bridge}" oifname != "${bridge}" drop
    oifname "${bridge}" iifname != "${bridge}" drop
  }
}
`;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  if (process.getuid?.() !== 0) throw new Error('a real node needs root (containers, bridge, nftables)');
  const bins = await ensureNode();
  const pauseArchive = await pauseImageArchive();
  await cleanStale();
  assertNoLiveRun();

  const dataDir = mkdtempSync('/tmp/fnode-');
  const id = path.basename(dataDir);
  const bridge = `fnbr${randomBytes(3).toString('hex')}`;
  const fence = 'inet fraud-node-fence';
  const tables = await sh(bins.nft, ['list', 'tables']);
  const state: NodeState = {
    id,
    ownerPid: process.pid,
    dataDir,
    bridge,
    serviceCidr,
    nftTables: [fence, 'ip kube-proxy', 'ip6 kube-proxy'].filter((t) => !tables.includes(`table ${t}`)),
    cgroupRoot: `/${id}`,
    sysctls: readSysctls(),
    pids: [],
    cniNetwork: id,
    createdDirs: ['/var/lib/cni', '/run/containerd', '/var/log/containers'].filter((d) => !existsSync(d)),
  };
  saveState(state);
  const logDir = path.join(dataDir, 'logs');
  const processes: Record<string, ManagedProcess> = {};
  const start = (name: string, command: string, args: string[], env?: NodeJS.ProcessEnv) => {
    const p = startProcess({ name, command, args, logDir, env, cwd: dataDir });
    processes[name] = p;
    if (p.child.pid) state.pids.push({ pid: p.child.pid, name: dataDir });
    saveState(state);
    return p;
  };
  const stop = async () => {
    const order = ['kubelet', 'kube-proxy', 'kube-scheduler', 'kube-controller-manager', 'containerd'];
    for (const name of order) await processes[name]?.stop(10_000);
    for (const name of ['kube-apiserver', 'etcd']) await processes[name]?.stop(5_000);
    if (options.keepData) state.dataDir = `${dataDir}/.never`; // keep files, still clean the rest
    const problems = await teardown(state, true);
    if (problems.length > 0) throw new Error(`node stop left things behind: ${problems.join('; ')}`);
  };

  try {
    // A PATH without iptables: the kubelet's and kube-proxy's iptables code finds nothing to run.
    const binDir = path.join(dataDir, 'bin');
    mkdirSync(binDir);
    symlinkSync(bins.nft, path.join(binDir, 'nft'));
    symlinkSync(hostTool('conntrack'), path.join(binDir, 'conntrack'));
    symlinkSync(bins.containerdShim, path.join(binDir, 'containerd-shim-runc-v2'));
    symlinkSync(bins.runc, path.join(binDir, 'runc'));
    const nodeEnv = { PATH: `${binDir}:/usr/local/bin:/usr/bin` };
    if (['/usr/bin/iptables', '/usr/local/bin/iptables'].some(existsSync))
      throw new Error(
        'iptables is in /usr/bin or /usr/local/bin: the node could not keep it from the kubelet',
      );

    // Network: the bridge, its address, the Service route, the fence.
    await sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
    await sh('ip', ['addr', 'add', `${nodeIp}/24`, 'dev', bridge]);
    await sh('ip', ['link', 'set', bridge, 'up']);
    writeFileSync(`/proc/sys/net/ipv4/conf/${bridge}/forwarding`, '1'); // this interface only
    await sh('ip', ['route', 'add', serviceCidr, 'dev', bridge, 'src', nodeIp]);
    await sh(bins.nft, ['-f', '-'], fenceTable(fence, bridge));

    // Cgroups: one root per v1 controller holds every pod, so stop can kill and remove all of them.
    for (const controller of ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'blkio', 'devices', 'freezer']) {
      const dir = path.join('/sys/fs/cgroup', controller, state.cgroupRoot);
      if (!existsSync(path.join('/sys/fs/cgroup', controller))) continue;
      mkdirSync(dir, { recursive: true });
      if (controller === 'cpuset') {
        for (const f of ['cpuset.cpus', 'cpuset.mems'])
          writeFileSync(path.join(dir, f), readFileSync(path.join('/sys/fs/cgroup/cpuset', f)));
      }
    }
    mkdirSync(`/sys/fs/cgroup/systemd${state.cgroupRoot}`, { recursive: true });

    const pki = await makeNodePki(path.join(dataDir, 'pki'), { nodeName, nodeIp, apiServiceIp });
    const etcdPort = await freePort();
    const peerPort = await freePort();
    const apiPort = await freePort();
    const cmPort = await freePort();
    const schedPort = await freePort();
    const kubeletPort = await freePort();
    const kubeletHealthz = await freePort();
    const proxyHealthz = await freePort();
    const proxyMetrics = await freePort();

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = start('etcd', bins.etcd, etcdArgs(path.join(dataDir, 'etcd'), etcdUrl, peerPort));
    await waitUntil(etcd, 'etcd /health', async () => (await fetch(`${etcdUrl}/health`)).ok, 30_000);

    const server = `https://${nodeIp}:${apiPort}`;
    const apiserver = start('kube-apiserver', bins.kubeApiserver, [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${nodeIp}`,
      `--advertise-address=${nodeIp}`,
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${pki.apiserver.cert}`,
      `--tls-private-key-file=${pki.apiserver.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`,
      `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
      `--kubelet-certificate-authority=${pki.ca.cert}`,
      '--kubelet-preferred-address-types=InternalIP',
      `--proxy-client-cert-file=${pki.frontProxyClient.cert}`,
      `--proxy-client-key-file=${pki.frontProxyClient.key}`,
      `--requestheader-client-ca-file=${pki.frontProxyCa.cert}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      '--enable-aggregator-routing=true', // the apiserver dials aggregated APIs' pod IPs, not their ClusterIP
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-cluster-ip-range=${serviceCidr}`,
      '--allow-privileged=false',
      '--profiling=false',
      '--v=1',
    ]);
    const write = (name: string, text: string) => {
      const file = path.join(dataDir, name);
      writeFileSync(file, text, { mode: 0o600 });
      return file;
    };
    const kubeconfig = write('admin.kubeconfig', kubeconfigFor(server, pki.ca.cert, pki.clients.admin));
    const kubectl = async (args: string[], input?: string) =>
      (await sh('kubectl', ['--kubeconfig', kubeconfig, ...args], input)).trim();
    await waitUntil(
      apiserver,
      'kube-apiserver /readyz',
      async () => (await kubectl(['get', '--raw=/readyz'])) === 'ok',
      90_000,
    );

    // containerd, then the sandbox image it pins.
    mkdirSync(path.join(dataDir, 'cni', 'net.d'), { recursive: true });
    writeFileSync(
      path.join(dataDir, 'cni', 'net.d', '10-fraud-node.conflist'),
      cniConfig(id, bridge, path.join(dataDir, 'cni', 'ipam')),
    );
    const containerdToml = write('containerd.toml', containerdConfig(dataDir, bins));
    const containerd = start(
      'containerd',
      bins.containerd,
      ['--config', containerdToml, '--log-level', 'warn'],
      nodeEnv,
    );
    const sock = path.join(dataDir, 'containerd.sock');
    const ctr = async (args: string[]) => sh(bins.ctr, ['--address', sock, '--namespace', 'k8s.io', ...args]);
    await waitUntil(
      containerd,
      'containerd socket',
      async () => {
        if (!existsSync(sock)) return false;
        await ctr(['version']);
        return true;
      },
      30_000,
    );
    const importImage = async (archive: string) => {
      await ctr(['images', 'import', '--platform', 'linux/amd64', archive]);
    };
    await importImage(pauseArchive);

    const cmKubeconfig = write(
      'controller-manager.kubeconfig',
      kubeconfigFor(server, pki.ca.cert, pki.clients.controllerManager),
    );
    start('kube-controller-manager', bins.kubeControllerManager, [
      `--kubeconfig=${cmKubeconfig}`,
      `--authentication-kubeconfig=${cmKubeconfig}`,
      `--authorization-kubeconfig=${cmKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${cmPort}`,
      '--leader-elect=false',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.ca.cert}`,
      `--cluster-signing-cert-file=${pki.ca.cert}`,
      `--cluster-signing-key-file=${pki.ca.key}`,
      `--service-cluster-ip-range=${serviceCidr}`,
      '--controllers=*,-nodeipam,-cloud-node-lifecycle',
      // HPA every 5 s (default 15 s) so the quick drill sees scale decisions sooner.
      '--horizontal-pod-autoscaler-sync-period=5s',
      '--v=1',
    ]);
    const schedKubeconfig = write(
      'scheduler.kubeconfig',
      kubeconfigFor(server, pki.ca.cert, pki.clients.scheduler),
    );
    start('kube-scheduler', bins.kubeScheduler, [
      `--kubeconfig=${schedKubeconfig}`,
      `--authentication-kubeconfig=${schedKubeconfig}`,
      `--authorization-kubeconfig=${schedKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      '--leader-elect=false',
      '--v=1',
    ]);
    const proxyKubeconfig = write(
      'kube-proxy.kubeconfig',
      kubeconfigFor(server, pki.ca.cert, pki.clients.kubeProxy),
    );
    const kubeProxy = start(
      'kube-proxy',
      bins.kubeProxy,
      [
        `--config=${write('kube-proxy.yaml', kubeProxyConfig(proxyKubeconfig, proxyHealthz, proxyMetrics))}`,
        '--v=1',
      ],
      nodeEnv,
    );

    writeFileSync(path.join(dataDir, 'resolv.conf'), 'nameserver 127.0.0.1\n'); // pods resolve through clusterDNS
    const kubeletKubeconfig = write(
      'kubelet.kubeconfig',
      kubeconfigFor(server, pki.ca.cert, pki.clients.kubelet),
    );
    const kubelet = start(
      'kubelet',
      bins.kubelet,
      [
        `--config=${write('kubelet.yaml', kubeletConfig(dataDir, kubeletPort, kubeletHealthz, state.cgroupRoot, pki.dir))}`,
        `--kubeconfig=${kubeletKubeconfig}`,
        `--root-dir=${path.join(dataDir, 'kubelet')}`,
        `--cert-dir=${path.join(dataDir, 'kubelet', 'pki')}`,
        `--hostname-override=${nodeName}`,
        `--node-ip=${nodeIp}`,
        // cAdvisor's own containerd client (which labels container_* series with pod, container and
        // namespace) does not read the kubelet config: without this it dials /run/containerd and finds
        // nothing, so cAdvisor reports bare cgroup ids.
        `--containerd=${path.join(dataDir, 'containerd.sock')}`,
        '--v=1',
      ],
      nodeEnv,
    );

    const readyTimeout = options.readyTimeoutMs ?? 180_000;
    try {
      await waitUntil(
        kubelet,
        `node ${nodeName} Ready`,
        async () =>
          (await kubectl([
            'get',
            'node',
            nodeName,
            '-o',
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
          ])) === 'True',
        readyTimeout,
        500,
      );
    } catch (error) {
      // Name every component that has died, and quote containerd too: a runtime error shows up there.
      const dead = Object.values(processes).filter(
        (p) => p.child.exitCode !== null || p.child.signalCode !== null,
      );
      const extra = dead.map((p) => `\n--- ${p.name} exited; ${p.logFile}:\n${p.tail(15)}`).join('');
      throw new Error(
        `${(error as Error).message}\n--- containerd ${containerd.logFile}:\n${containerd.tail(10)}${extra}`,
      );
    }
    await waitUntil(
      kubeProxy,
      'kube-proxy /healthz',
      async () => (await fetch(`http://127.0.0.1:${proxyHealthz}/healthz`)).ok,
      60_000,
    );
    await waitUntil(
      processes['kube-controller-manager'],
      'the default ServiceAccount',
      async () => (await kubectl(['get', 'serviceaccount', 'default', '-o', 'name'])) !== '',
      60_000,
    );

    const kubeletVersion = versionOf('kubelet', await sh(bins.kubelet, ['--version']));
    return {
      kubeconfig,
      server,
      nodeName,
      nodeIp,
      kubeletPort,
      podCidr,
      serviceCidr,
      dataDir,
      cgroupRoot: state.cgroupRoot,
      versions: {
        kubernetes: bins.versions.kubernetes,
        kubelet: kubeletVersion,
        containerd: bins.containerdVersion,
        runc: bins.runcVersion,
      },
      binaries: bins,
      processes,
      kubectl,
      containerdAddress: sock,
      importImage,
      ctr,
      stop,
    };
  } catch (error) {
    await stop().catch((e: Error) => {
      (error as Error).message += `\n(and stopping: ${e.message})`;
    });
    throw error;
  }
}
