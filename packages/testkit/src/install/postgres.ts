// Finds Debian's PostgreSQL server binaries (/usr/lib/postgresql/<major>/bin), installing the `postgresql`
// package when there are none. Idempotent; never leaves the package's own cluster running (policy-rc.d).
import { accessSync, constants, readdirSync } from 'node:fs';
import path from 'node:path';
import { aptInstall } from './apt.ts';

export interface PostgresInstall {
  /** e.g. 15 */
  major: number;
  /** Directory holding initdb, postgres, pg_isready, createdb, psql. */
  binDir: string;
}

const root = '/usr/lib/postgresql';
const needed = ['initdb', 'postgres', 'pg_isready', 'createdb', 'psql'];

/** The newest installed major version whose bin dir has every binary the testkit runs. */
export function findPostgres(base = root): PostgresInstall | undefined {
  let majors: number[];
  try {
    majors = readdirSync(base)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0)
      .sort((a, b) => b - a);
  } catch {
    return undefined;
  }
  for (const major of majors) {
    const binDir = path.join(base, String(major), 'bin');
    const complete = needed.every((binary) => {
      try {
        accessSync(path.join(binDir, binary), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (complete) return { major, binDir };
  }
  return undefined;
}

let pending: Promise<PostgresInstall> | undefined;

/** PostgreSQL's server binaries, from Debian's `postgresql` package (installed by apt-get if missing). */
export function ensurePostgres(): Promise<PostgresInstall> {
  pending ??= install().catch((error: unknown) => {
    pending = undefined;
    throw error;
  });
  return pending;
}

async function install(): Promise<PostgresInstall> {
  const found = findPostgres();
  if (found) return found;
  await aptInstall(
    ['postgresql'],
    `install PostgreSQL 13+ so that ${root}/<major>/bin holds ${needed.join(', ')}`,
  );
  const installed = findPostgres();
  if (!installed) {
    throw new Error(`apt-get installed postgresql, but no ${root}/<major>/bin has ${needed.join(', ')}`);
  }
  return installed;
}
