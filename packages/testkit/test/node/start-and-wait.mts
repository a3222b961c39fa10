// Helper of cluster.test.ts: starts a node, prints "ready <dataDir>", and waits to be SIGKILLed.
import { startCluster } from '../../src/node/cluster.ts';

const cluster = await startCluster();
await cluster.kubectl([
  'run',
  'sleeper',
  '--image=fraud.local/pause:v1',
  '--image-pull-policy=Never',
  '--restart=Never',
]);
await cluster.kubectl(['wait', '--for=condition=Ready', 'pod/sleeper', '--timeout=120s']);
console.log(`ready ${cluster.dataDir}`);
setInterval(() => undefined, 60_000);
