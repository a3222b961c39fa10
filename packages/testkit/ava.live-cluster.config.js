// The live-cluster suite (`npm test -- --only live-cluster`): a real node (and the drill on it). One node per
// machine, so the files run one after another; a cold start can take minutes.
export default {
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  require: ['@fraud/testkit/ava-exit'],
  files: ['test/node/**/*.test.ts'],
  concurrency: 1,
  timeout: '20m',
};
