// The function folders (built alone by `func deploy`) and the versions the workspace root resolved for them.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './repo.mts';

export interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  [key: string]: unknown;
}

interface Lockfile {
  packages: Record<string, { version?: string; link?: boolean }>;
}

export const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

export function functionFolders(): string[] {
  const dir = path.join(repoRoot, 'functions');
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => path.join(dir, entry.name))
    .sort();
}

/** The version npm installed for `name` as seen from `folder`: its own nested copy first, else the hoisted one. */
export function rootResolvedVersion(rootLock: Lockfile, folder: string, name: string): string {
  const relative = path.relative(repoRoot, folder);
  const entry =
    rootLock.packages[`${relative}/node_modules/${name}`] ?? rootLock.packages[`node_modules/${name}`];
  if (!entry?.version || entry.link) {
    throw new Error(
      `${name}: no installed version in the root package-lock.json for ${relative}; run npm install`,
    );
  }
  return entry.version;
}
