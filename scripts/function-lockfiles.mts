#!/usr/bin/env -S npx tsx
// `npm run lock:functions`: writes functions/<name>/package-lock.json for each function folder.
//
// `func deploy` builds a function folder alone (the buildpack never sees the workspace root), and without a
// lockfile of its own it would resolve every `^` range afresh. The lockfile written here pins each direct
// dependency to the version the root lockfile resolved, so the image runs what `npm test` ran; transitive
// dependencies are resolved once, here, and then stay fixed. Run it after changing a function's dependencies;
// `scripts/test/function-lockfiles.test.ts` fails when a lockfile no longer matches.
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import {
  functionFolders,
  type PackageJson,
  readJson,
  rootResolvedVersion,
} from './lib/function-packages.mts';
import { repoRoot } from './lib/repo.mts';

const rootLock = readJson(path.join(repoRoot, 'package-lock.json'));

for (const folder of functionFolders()) {
  const pkg = readJson(path.join(folder, 'package.json')) as PackageJson;
  const work = mkdtempSync(path.join(os.tmpdir(), `lock-${path.basename(folder)}-`));
  try {
    // Direct dependencies at exactly the root's versions; the real ranges go back into the lockfile below.
    const pinned: PackageJson = { ...pkg };
    for (const field of ['dependencies', 'devDependencies'] as const) {
      const deps = pkg[field];
      if (!deps) continue;
      pinned[field] = Object.fromEntries(
        Object.keys(deps).map((name) => [name, rootResolvedVersion(rootLock, folder, name)]),
      );
    }
    writeFileSync(path.join(work, 'package.json'), JSON.stringify(pinned, null, 2));
    if (existsSync(path.join(folder, '.npmrc')))
      copyFileSync(path.join(folder, '.npmrc'), path.join(work, '.npmrc'));
    await $({
      cwd: work,
      verbose: false,
    })`npm install --package-lock-only --ignore-scripts --no-audit --no-fund`;
    const lock = readJson(path.join(work, 'package-lock.json')) as {
      packages: Record<string, Record<string, unknown>>;
    };
    const root = lock.packages[''] ?? {};
    for (const field of ['dependencies', 'devDependencies'] as const)
      if (pkg[field]) root[field] = pkg[field];
    writeFileSync(path.join(folder, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
    console.log(
      `${path.relative(repoRoot, folder)}/package-lock.json: ${Object.keys(lock.packages).length - 1} packages`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
