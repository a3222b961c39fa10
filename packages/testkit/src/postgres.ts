// A real PostgreSQL server (Debian's binaries) for tests, benches and the local platform: initdb in a temp
// dir, a free loopback port, its unix socket in that dir, trust auth for loopback and the socket only, one
// database created. As root it runs as an unprivileged user (postgres, else nobody): postgres refuses root.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensurePostgres, type PostgresInstall } from './install/postgres.ts';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitUntil } from './process.ts';

const run = promisify(execFile);

export interface StartPostgresOptions {
  /** The database created for the caller. Default `fraud`. */
  database?: string;
  /** Fixed port (the local platform); tests leave it unset and get a free one. */
  port?: number;
  /** Where the cluster lives; default a fresh temp dir, removed by stop(). A kept dir is reused as is. */
  dataDir?: string;
  /**
   * fsync on. Off by default: tests run faster and still lose nothing when the server process is killed
   * (commits reach the OS at once); benches and the local platform turn it on, as a real server has it.
   */
  durable?: boolean;
  /** Readiness timeout. Default 60 s (a busy 2-core machine). */
  startTimeoutMs?: number;
}

export interface PostgresService {
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** The superuser name (trust auth, loopback only). */
  readonly user: string;
  /** The directory of the server's unix socket (`psql -h <socketDir>`). */
  readonly socketDir: string;
  /** The cluster's directory (PGDATA). */
  readonly dataDir: string;
  readonly install: PostgresInstall;
  /** The server process of the current run (its log names failures). */
  readonly process: ManagedProcess;
  /** Runs SQL with psql (ON_ERROR_STOP) and returns its unaligned, tuples-only output. */
  psql(sql: string, database?: string): Promise<string>;
  /** Creates another database (if absent) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown; removes a temp dir it created. */
  stop(): Promise<void>;
  /** SIGKILL (data kept, so restart() brings it back after crash recovery). */
  kill(): Promise<void>;
  /** Stops (fast, if still running) and starts again on the same port and data. */
  restart(): Promise<void>;
}

interface Account {
  uid: number;
  gid: number;
  name: string;
}

/** The unprivileged account to run as when we are root: `postgres` (Debian's package makes it), else `nobody`. */
export function unprivilegedAccount(passwd = readFileSync('/etc/passwd', 'utf8')): Account {
  const entries = passwd
    .split('\n')
    .map((line) => line.split(':'))
    .filter((f) => f.length >= 4)
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) }));
  const account = entries.find((e) => e.name === 'postgres') ?? entries.find((e) => e.name === 'nobody');
  if (!account || account.uid === 0) {
    throw new Error(
      'running as root, but /etc/passwd has neither a postgres nor a nobody user to run PostgreSQL as',
    );
  }
  return account;
}

const validDatabase = /^[a-z_][a-z0-9_]{0,62}$/;

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresService> {
  const install = await ensurePostgres();
  const database = options.database ?? 'fraud';
  if (!validDatabase.test(database))
    throw new Error(`database name ${JSON.stringify(database)} is not [a-z_][a-z0-9_]*`);
  const account = process.getuid?.() === 0 ? unprivilegedAccount() : undefined;
  const asAccount = account ? { uid: account.uid, gid: account.gid } : {};
  const ownsDir = options.dataDir === undefined;
  const dir = options.dataDir
    ? path.resolve(options.dataDir)
    : mkdtempSync(path.join(os.tmpdir(), 'fraud-postgres-'));
  const dataDir = path.join(dir, 'data');
  const socketDir = path.join(dir, 'socket');
  mkdirSync(socketDir, { recursive: true });
  if (account) {
    chownSync(dir, account.uid, account.gid);
    chownSync(socketDir, account.uid, account.gid);
  }
  const bin = (name: string) => path.join(install.binDir, name);
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  const cleanup = () => {
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
      await run(
        bin('initdb'),
        ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-locale', '--no-sync'],
        { env, ...asAccount, maxBuffer: 16 * 1024 * 1024 },
      ).catch((error: { stderr?: string; message: string }) => {
        throw new Error(`initdb failed: ${error.stderr?.trim() || error.message}`);
      });
      // Trust, but only on the unix socket in our dir and on 127.0.0.1 (the server listens nowhere else).
      writeFileSync(
        path.join(dataDir, 'pg_hba.conf'),
        ['local all all trust', 'host all all 127.0.0.1/32 trust', ''].join('\n'),
      );
    }
  } catch (error) {
    cleanup();
    throw error;
  }

  const port = options.port ?? (await freePort());
  const host = '127.0.0.1';
  const durable = options.durable ?? false;
  const settings = {
    listen_addresses: host,
    port: String(port),
    unix_socket_directories: socketDir,
    max_connections: '200',
    shared_buffers: '128MB',
    fsync: durable ? 'on' : 'off',
    // Commits always reach the OS at once, so a killed server (crash tests) loses nothing; without fsync
    // only a machine crash could.
    synchronous_commit: 'on',
    full_page_writes: durable ? 'on' : 'off',
    logging_collector: 'off',
    log_min_messages: 'warning',
  };
  const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const clientArgs = ['-h', host, '-p', String(port), '-U', 'postgres'];

  const psql = async (sql: string, db = database) => {
    try {
      const { stdout } = await run(
        bin('psql'),
        [...clientArgs, '-d', db, '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-c', sql],
        { env, maxBuffer: 64 * 1024 * 1024 },
      );
      return stdout.trimEnd();
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`psql failed: ${e.stderr?.trim() || e.message}`);
    }
  };
  const createDatabase = async (name: string) => {
    if (!validDatabase.test(name))
      throw new Error(`database name ${JSON.stringify(name)} is not [a-z_][a-z0-9_]*`);
    const exists = await psql(`select 1 from pg_database where datname = '${name}'`, 'postgres');
    if (exists !== '1') await psql(`create database ${name}`, 'postgres');
    return `postgres://postgres@${host}:${port}/${name}`;
  };

  let server: ManagedProcess | undefined;
  const launch = async () => {
    const started = startProcess({
      name: `postgres-${port}`,
      command: bin('postgres'),
      args,
      logDir: dir,
      env,
      ...asAccount,
      stopSignal: 'SIGINT', // fast shutdown: ends open sessions instead of waiting for them
    });
    server = started;
    try {
      await waitUntil(
        started,
        `PostgreSQL on ${host}:${port} to accept connections`,
        async () => {
          await run(bin('pg_isready'), [...clientArgs, '-d', 'postgres', '-t', '2'], { env });
          return true;
        },
        options.startTimeoutMs ?? 60_000,
        200,
      );
    } catch (error) {
      await started.kill();
      throw error;
    }
  };

  try {
    await launch();
    await createDatabase(database);
  } catch (error) {
    await server?.stop(5_000);
    cleanup();
    throw error;
  }

  return {
    url: `postgres://postgres@${host}:${port}/${database}`,
    host,
    port,
    database,
    user: 'postgres',
    socketDir,
    dataDir,
    install,
    get process() {
      return server!;
    },
    psql,
    createDatabase,
    async stop() {
      await server?.stop(15_000);
      cleanup();
    },
    async kill() {
      await server?.kill();
    },
    async restart() {
      await server?.stop(15_000);
      await launch();
    },
  };
}
