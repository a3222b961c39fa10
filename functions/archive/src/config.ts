// The archive's configuration, from the environment (README "Configuration"). Bad values fail at start
// with the variable's name, never later.

export class ConfigError extends Error {}

export interface ArchiveConfig {
  port: number;
  /** postgres:// URL; when unset, pg reads PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (the cluster's way). */
  databaseUrl?: string;
  poolMax: number;
  /** Most rows one multi-row INSERT carries. */
  batchMaxRows: number;
  /** How long a row may wait for others to share its INSERT. */
  batchWaitMs: number;
  /** Run the migrations at start (node-pg-migrate takes an advisory lock, so several pods may). */
  migrateOnStart: boolean;
  /** Rows older than this (by archived_at) are deleted; 0 keeps everything. */
  retentionDays: number;
  retentionIntervalMs: number;
  /** Only decisions at least this old are judged: their labels have had time to arrive. */
  labelMaturityMs: number;
  /** Decisions judged: those decided within this window before the maturity cut-off. */
  qualityWindowMs: number;
  qualityIntervalMs: number;
  shutdownGraceMs: number;
}

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90", "90s", "15m", "6h", "7d", "250ms" → milliseconds (a bare number is seconds). */
export function parseDuration(name: string, raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!match)
    throw new ConfigError(`${name} must be a duration like 90s, 15m, 6h or 7d, got ${JSON.stringify(raw)}`);
  return Number(match[1]) * (units[match[2] ?? 's'] as number);
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return value;
}

function duration(env: NodeJS.ProcessEnv, name: string, fallback: string): number {
  const raw = env[name];
  return parseDuration(name, raw === undefined || raw === '' ? fallback : raw);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ArchiveConfig {
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// URL');
  }
  const migrate = env.ARCHIVE_MIGRATE ?? 'on-start';
  if (migrate !== 'on-start' && migrate !== 'off') {
    throw new ConfigError(`ARCHIVE_MIGRATE must be on-start or off, got ${JSON.stringify(migrate)}`);
  }
  return {
    port: integer(env, 'PORT', 8080, 0, 65535),
    databaseUrl,
    poolMax: integer(env, 'ARCHIVE_POOL_MAX', 10, 1, 200),
    batchMaxRows: integer(env, 'ARCHIVE_BATCH_MAX_ROWS', 500, 1, 5000),
    batchWaitMs: integer(env, 'ARCHIVE_BATCH_WAIT_MS', 5, 0, 1000),
    migrateOnStart: migrate === 'on-start',
    retentionDays: integer(env, 'ARCHIVE_RETENTION_DAYS', 400, 0, 36_500),
    retentionIntervalMs: duration(env, 'ARCHIVE_RETENTION_INTERVAL', '1h'),
    labelMaturityMs: duration(env, 'ARCHIVE_LABEL_MATURITY', '7d'),
    qualityWindowMs: duration(env, 'ARCHIVE_QUALITY_WINDOW', '7d'),
    qualityIntervalMs: duration(env, 'ARCHIVE_QUALITY_INTERVAL', '60s'),
    shutdownGraceMs: integer(env, 'ARCHIVE_SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
  };
}
