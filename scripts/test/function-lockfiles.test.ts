// Each function folder is built alone by `func deploy`, from its own package-lock.json: it must declare the same
// ranges as package.json and pin each direct dependency to what the workspace root installed (what the tests ran).
import path from 'node:path';
import test from 'ava';
import {
  functionFolders,
  type PackageJson,
  readJson,
  rootResolvedVersion,
} from '../lib/function-packages.mts';
import { repoRoot } from '../lib/repo.mts';

const rootLock = readJson(path.join(repoRoot, 'package-lock.json'));
const fix = 'run `npm run lock:functions`';

test('there are function folders to check', (t) => {
  t.deepEqual(
    functionFolders().map((f) => path.basename(f)),
    ['archive', 'retrain-hook', 'score'],
  );
});

for (const folder of functionFolders()) {
  const name = path.basename(folder);
  test(`functions/${name}: package-lock.json matches package.json and the root install`, (t) => {
    const pkg = readJson(path.join(folder, 'package.json')) as PackageJson;
    const lock = readJson(path.join(folder, 'package-lock.json')) as {
      lockfileVersion: number;
      packages: Record<string, { version?: string; dependencies?: object; devDependencies?: object }>;
    };
    t.is(lock.lockfileVersion, 3);
    const root = lock.packages[''];
    t.deepEqual(root?.dependencies ?? {}, pkg.dependencies ?? {}, `dependencies differ: ${fix}`);
    t.deepEqual(root?.devDependencies ?? {}, pkg.devDependencies ?? {}, `devDependencies differ: ${fix}`);
    for (const dep of [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]) {
      t.is(
        lock.packages[`node_modules/${dep}`]?.version,
        rootResolvedVersion(rootLock, folder, dep),
        `${dep}: the function's lockfile and the root install disagree: ${fix}`,
      );
    }
  });
}
