#!/usr/bin/env -S npx tsx
// Installs, idempotently and cached, what the test suites and the local platform need.
//
//   npm run setup                          everything `npm test` needs (python, kafka, prometheus, postgres)
//   npm run setup -- --for score,testkit   what those suites need (names as in `npm test -- --only`)
//   npm run setup -- --only kafka,kube     these components
//
// Each component's installer lives in @fraud/testkit/install/<module> and is imported only when wanted,
// so a missing or broken installer fails with a message naming it while the others still run.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { argv, chalk } from 'zx';
import { repoRoot } from './lib/repo.mts';

/** component → installer module and the export to call. */
export const components = {
  python: {
    module: 'python',
    exportName: 'ensurePythonEnv',
    what: 'Python virtualenv (.venv) with pinned packages',
  },
  kafka: { module: 'kafka', exportName: 'ensureKafka', what: 'Apache Kafka broker jars from Maven Central' },
  prometheus: {
    module: 'debian',
    exportName: 'ensureDebianTools',
    what: "Debian's prometheus and prometheus-alertmanager",
  },
  postgres: {
    module: 'postgres',
    exportName: 'ensurePostgres',
    what: "Debian's postgresql server binaries",
  },
  kube: {
    module: 'kube',
    exportName: 'ensureKube',
    what: 'kube-apiserver, etcd and kwok (cluster test only)',
  },
  images: {
    module: 'images',
    exportName: 'ensureImages',
    what: 'OCI image archives: score, retrain-hook, Knative Serving, metrics-server, kube-state-metrics, CoreDNS',
  },
  node: {
    module: 'node',
    exportName: 'ensureNode',
    what: 'a real node: kube-controller-manager, kube-scheduler, kubelet, kube-proxy, containerd 2, runc, CNI plugins (live-cluster only)',
  },
} as const;
export type Component = keyof typeof components;

/** The components that compile Go (CPU-bound); the others download. */
const goBuilds = new Set<Component>(['kube', 'node', 'images']);

/** suite (as named by `npm test -- --only`) → the components its tests start. */
export const suiteNeeds: Record<string, Component[]> = {
  lint: [],
  typecheck: [],
  setup: [],
  // The DAG's end-to-end test and retrain-hook's rollout test roll out on the real node (Knative Serving 1.15).
  python: ['python', 'prometheus', 'postgres', 'node', 'images'],
  transactions: ['python'],
  testkit: ['kafka', 'python', 'prometheus', 'postgres', 'images'],
  archive: ['postgres', 'kafka'],
  score: ['python', 'kafka'],
  'retrain-hook': ['python', 'prometheus', 'node', 'images'],
  monitoring: ['prometheus', 'kafka'],
  // python and postgres: the learning drill (Airflow API server, the DAG's steps, the archive).
  scripts: ['kafka', 'prometheus', 'python', 'postgres'],
  'local-dispatcher': ['kafka'],
  cluster: ['kube', 'python'],
  // Its clients' venv (functions/score/test/python/requirements.txt) is made by the suite itself, on first run.
  'score-python': [],
  'live-cluster': ['node', 'images', 'kafka', 'prometheus'],
};

/** What `npm test` with no filter needs: every suite, the cluster test included. */
const everythingForNpmTest: Component[] = [
  'python',
  'kafka',
  'prometheus',
  'postgres',
  'kube',
  'images',
  'node',
];

const list = (value: unknown) =>
  String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function componentsFor(options: { for?: string[]; only?: string[] }): Component[] {
  if (options.only) {
    const unknown = options.only.filter((c) => !(c in components));
    if (unknown.length) {
      throw new Error(
        `unknown component(s) ${unknown.join(', ')}; known: ${Object.keys(components).join(', ')}`,
      );
    }
    return options.only as Component[];
  }
  if (options.for) {
    const unknown = options.for.filter((s) => !(s in suiteNeeds));
    if (unknown.length) {
      throw new Error(`unknown suite(s) ${unknown.join(', ')}; known: ${Object.keys(suiteNeeds).join(', ')}`);
    }
    return [...new Set(options.for.flatMap((s) => suiteNeeds[s] ?? []))];
  }
  return everythingForNpmTest;
}

async function install(component: Component): Promise<void> {
  const { module, exportName } = components[component];
  const file = path.join(repoRoot, 'packages', 'testkit', 'src', 'install', `${module}.ts`);
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(
      `the installer for "${component}" (${file}) could not be loaded: ${(err as Error).message}`,
    );
  }
  const installer = loaded[exportName];
  if (typeof installer !== 'function') {
    throw new Error(`${file} does not export a function ${exportName}() for component "${component}"`);
  }
  await (installer as () => Promise<unknown>)();
}

async function main(): Promise<void> {
  const wanted = componentsFor({
    for: argv.for ? list(argv.for) : undefined,
    only: argv.only ? list(argv.only) : undefined,
  });
  if (wanted.length === 0) {
    console.log('setup: nothing to install for these suites');
    return;
  }
  const failures: string[] = [];
  const installOne = async (component: Component) => {
    const started = Date.now();
    const took = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    console.log(`setup: ${component} (${components[component].what}) ...`);
    try {
      await install(component);
      console.log(chalk.green(`setup: ${component} ok in ${took()}`));
    } catch (err) {
      console.log(chalk.red(`setup: ${component} FAILED after ${took()}`));
      console.error(chalk.red(`setup: ${component}: ${(err as Error).message}`));
      failures.push(component);
    }
  };
  // Two lanes side by side: the Go builds use every core for many minutes, the downloads (PyPI, Maven,
  // Debian) mostly wait on the network, so on a cold machine they overlap instead of adding up.
  const lanes = [wanted.filter((c) => goBuilds.has(c)), wanted.filter((c) => !goBuilds.has(c))];
  await Promise.all(
    lanes.map(async (lane) => {
      for (const component of lane) await installOne(component);
    }),
  );
  if (failures.length) {
    console.error(chalk.red(`setup: ${failures.length} component(s) failed: ${failures.join(', ')}`));
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: Error) => {
    console.error(chalk.red(`setup: ${err.message}`));
    process.exitCode = 2;
  });
}
