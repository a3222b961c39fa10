// The one-member etcd both control planes run (kube.ts for the cluster suite, node/cluster.ts for the real
// node): loopback only, its data in the run's temp dir.

/** etcd's flags for a single member serving `clientUrl` (http://127.0.0.1:port) and peering on `peerPort`. */
export function etcdArgs(dataDir: string, clientUrl: string, peerPort: number): string[] {
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  return [
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=default=${peerUrl}`,
    '--unsafe-no-fsync', // test data: durability does not matter, speed does
    '--log-level=warn',
  ];
}
