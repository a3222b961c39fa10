// PostgreSQL: the pool, the migrations (node-pg-migrate, SQL files in ../migrations), the idempotent
// multi-row upserts of each table, readiness, retention. Row shapes are in events.ts; the schema is the
// contract in README.md ("Schema").
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import type { DecisionRow, LabelRow, TransactionRow } from './events.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));
const MIGRATIONS_TABLE = 'pgmigrations';

/** Migration names (file names without .sql), in order. */
export function migrationNames(dir = MIGRATIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .map((f) => f.replace(/\.sql$/, ''))
    .sort();
}

/** SQLSTATE classes that mean "the database is not there right now", not "this row is bad". */
const unavailableCodes = /^(08|53|57P0|57P03|58)/;
const unavailableErrno = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);

export function isUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (typeof e.code === 'string' && (unavailableErrno.has(e.code) || unavailableCodes.test(e.code)))
    return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end/i.test(
    e.message ?? '',
  );
}

/** Builds `($1,$2,...),($n+1,...)` for rows of `width` columns. */
function placeholders(rows: number, width: number, casts: string[] = []): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let c = 0; c < width; c++) cells.push(`$${r * width + c + 1}${casts[c] ?? ''}`);
    out.push(`(${cells.join(',')})`);
  }
  return out.join(',');
}

/** One row per key: within one INSERT ... ON CONFLICT a key may appear only once. */
function uniqueBy<T>(rows: T[], key: (row: T) => string, keep: (a: T, b: T) => T): T[] {
  const map = new Map<string, T>();
  for (const row of rows) {
    const k = key(row);
    const had = map.get(k);
    map.set(k, had === undefined ? row : keep(had, row));
  }
  return [...map.values()];
}

/** The label rule: the greatest (labeled_at, is_fraud, source) wins. Same order as the SQL row comparison. */
export function laterLabel(a: LabelRow, b: LabelRow): LabelRow {
  const ta = Date.parse(a.labeled_at);
  const tb = Date.parse(b.labeled_at);
  if (ta !== tb) return tb > ta ? b : a;
  if (a.is_fraud !== b.is_fraud) return b.is_fraud ? b : a;
  return b.source > a.source ? b : a;
}

export class Store {
  readonly pool: pg.Pool;

  constructor(options: { databaseUrl?: string; poolMax: number; onError?: (error: Error) => void }) {
    this.pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolMax,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      application_name: 'fraud-archive',
    });
    // An idle client losing its connection (the server restarted) must not crash the process.
    this.pool.on('error', (error) => options.onError?.(error));
  }

  async migrate(log: (message: string) => void): Promise<void> {
    const client = await this.pool.connect();
    try {
      await runner({
        dbClient: client,
        dir: MIGRATIONS_DIR,
        direction: 'up',
        migrationsTable: MIGRATIONS_TABLE,
        // The bookkeeping table lives in the archive's own schema (archive.pgmigrations).
        migrationsSchema: 'archive',
        createMigrationsSchema: true,
        schema: 'archive',
        checkOrder: true,
        log: (message) => log(`migrate: ${message}`),
      });
    } finally {
      client.release();
    }
  }

  /** Migration names applied in the database, or the reason they cannot be read. */
  async appliedMigrations(): Promise<string[]> {
    const result = await this.pool.query<{ name: string }>(
      `select name from archive.${MIGRATIONS_TABLE} order by run_on, id`,
    );
    return result.rows.map((r) => r.name);
  }

  /** Ready = the database answers and every migration in the folder is applied. */
  async readiness(): Promise<{ ready: boolean; reason?: string }> {
    try {
      const applied = new Set(await this.appliedMigrations());
      const missing = migrationNames().filter((m) => !applied.has(m));
      if (missing.length) return { ready: false, reason: `migrations not applied: ${missing.join(', ')}` };
      return { ready: true };
    } catch (error) {
      return { ready: false, reason: `database: ${(error as Error).message}` };
    }
  }

  /** Transactions are facts: the first copy is kept, a redelivery changes nothing. */
  async writeTransactions(rows: TransactionRow[]): Promise<void> {
    const unique = uniqueBy(
      rows,
      (r) => r.transaction_id,
      (a) => a,
    );
    const values = unique.flatMap((r) => [
      r.transaction_id,
      r.card_id,
      r.occurred_at,
      r.amount,
      JSON.stringify(r.payload),
    ]);
    await this.pool.query(
      `insert into archive.transactions (transaction_id, card_id, occurred_at, amount, payload)
       values ${placeholders(unique.length, 5, ['', '', '::timestamptz', '::numeric', '::jsonb'])}
       on conflict (transaction_id) do nothing`,
      values,
    );
  }

  /** One decision per transaction; a redelivery (or a rescore) replaces it. */
  async writeDecisions(rows: DecisionRow[]): Promise<void> {
    const unique = uniqueBy(
      rows,
      (r) => r.transaction_id,
      (_a, b) => b,
    );
    const values = unique.flatMap((r) => [
      r.transaction_id,
      r.card_id,
      r.model_name,
      r.model_version,
      r.model_sha256,
      r.fraud_probability,
      r.threshold,
      r.decision,
      r.decided_at,
    ]);
    await this.pool.query(
      `insert into archive.decisions (transaction_id, card_id, model_name, model_version, model_sha256,
         fraud_probability, threshold, decision, decided_at)
       values ${placeholders(unique.length, 9, ['', '', '', '', '', '::float8', '::float8', '', '::timestamptz'])}
       on conflict (transaction_id) do update set
         card_id = excluded.card_id, model_name = excluded.model_name, model_version = excluded.model_version,
         model_sha256 = excluded.model_sha256, fraud_probability = excluded.fraud_probability,
         threshold = excluded.threshold, decision = excluded.decision, decided_at = excluded.decided_at
`,
      values,
    );
  }

  /**
   * Every distinct label goes to label_history (a redelivery is stored once); archive.labels keeps the
   * greatest (labeled_at, is_fraud, source) per transaction. One statement, so both change together.
   */
  async writeLabels(rows: LabelRow[]): Promise<void> {
    const history = uniqueBy(
      rows,
      (r) => `${r.transaction_id}\u0000${Date.parse(r.labeled_at)}\u0000${r.is_fraud}\u0000${r.source}`,
      (a) => a,
    );
    const current = uniqueBy(rows, (r) => r.transaction_id, laterLabel);
    const width = 5;
    const casts = ['', '', '::boolean', '', '::timestamptz'];
    const toValues = (list: LabelRow[]) =>
      list.flatMap((r) => [r.transaction_id, r.card_id, r.is_fraud, r.source, r.labeled_at]);
    const offset = history.length * width;
    const currentPlaceholders = current
      .map((_, r) => `(${casts.map((cast, c) => `$${offset + r * width + c + 1}${cast}`).join(',')})`)
      .join(',');
    await this.pool.query(
      `with history as (
         insert into archive.label_history (transaction_id, card_id, is_fraud, source, labeled_at)
         values ${placeholders(history.length, width, casts)}
         on conflict (transaction_id, labeled_at, is_fraud, source) do nothing
       )
       insert into archive.labels (transaction_id, card_id, is_fraud, source, labeled_at)
       values ${currentPlaceholders}
       on conflict (transaction_id) do update set
         card_id = excluded.card_id, is_fraud = excluded.is_fraud, source = excluded.source,
         labeled_at = excluded.labeled_at, archived_at = now()
       where (excluded.labeled_at, excluded.is_fraud, excluded.source)
           > (archive.labels.labeled_at, archive.labels.is_fraud, archive.labels.source)`,
      [...toValues(history), ...toValues(current)],
    );
  }

  /** Deletes rows archived more than `days` ago; returns how many per table. */
  async applyRetention(days: number): Promise<Record<string, number>> {
    const deleted: Record<string, number> = {};
    for (const [table, column] of [
      ['transactions', 'archived_at'],
      ['decisions', 'archived_at'],
      ['labels', 'archived_at'],
      ['label_history', 'received_at'],
    ] as const) {
      const result = await this.pool.query(
        `delete from archive.${table} where ${column} < now() - make_interval(days => $1::int)`,
        [days],
      );
      deleted[table] = result.rowCount ?? 0;
    }
    return deleted;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
