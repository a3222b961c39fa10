// The scripts part of the live-cluster suite: Knative Serving (and the drill) on a real node. One node per
// machine, so files run one after another.
export default {
  extensions: { ts: 'module', mts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  require: ['@fraud/testkit/ava-exit'],
  files: ['test/live/**/*.test.ts'],
  concurrency: 1,
  timeout: '30m',
};
