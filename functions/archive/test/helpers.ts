// Shared by the archive's tests: a real PostgreSQL (testkit), an archive started in-process on it, and
// CloudEvents as the KafkaSource delivers them.
import { randomUUID } from 'node:crypto';
import type { PostgresService } from '@fraud/testkit/postgres';
import { type ArchiveConfig, loadConfig } from '../src/config.ts';
import { type RunningArchive, startArchive } from '../src/server.ts';

export function archiveConfig(databaseUrl: string, overrides: Partial<ArchiveConfig> = {}): ArchiveConfig {
  return {
    ...loadConfig({}),
    port: 0,
    databaseUrl,
    qualityIntervalMs: 3_600_000, // tests call refreshQuality() themselves
    retentionIntervalMs: 3_600_000,
    ...overrides,
  };
}

export async function startTestArchive(
  pg: PostgresService,
  database: string,
  overrides: Partial<ArchiveConfig> = {},
): Promise<RunningArchive> {
  const url = await pg.createDatabase(database);
  const archive = await startArchive(archiveConfig(url, overrides), { host: '127.0.0.1' });
  await archive.migrated;
  return archive;
}

let n = 0;
export const uniqueId = (prefix = 'tx') => `${prefix}-${process.pid}-${++n}-${randomUUID().slice(0, 8)}`;

export function transaction(id = uniqueId(), overrides: Record<string, unknown> = {}) {
  return {
    transaction_id: id,
    card_id: `card_${id.length % 97}`,
    timestamp: '2026-12-01T10:00:00Z',
    amount: 123.45,
    merchant_category: 'grocery',
    hour: 10,
    card_present: true,
    distance_from_home_km: 2.5,
    velocity_1h: 1,
    amount_to_avg_ratio: 1.1,
    new_merchant: false,
    foreign: false,
    ...overrides,
  };
}

export function decision(transactionId: string, overrides: Record<string, unknown> = {}) {
  return {
    transaction_id: transactionId,
    card_id: 'card_1',
    fraud_probability: 0.9,
    decision: 'fraud',
    threshold: 0.5,
    model: { name: 'fraud-detector', version: '3', sha256: 'a'.repeat(64) },
    ...overrides,
  };
}

export function label(transactionId: string, overrides: Record<string, unknown> = {}) {
  return {
    transaction_id: transactionId,
    card_id: 'card_1',
    is_fraud: true,
    source: 'chargeback',
    labeled_at: '2026-12-02T10:00:00.000Z',
    ...overrides,
  };
}

export const TYPES = {
  transaction: 'dev.fraud.transaction.v1',
  decision: 'dev.fraud.decision.v1',
  label: 'dev.fraud.label.v1',
} as const;

/** POST one binary-mode CloudEvent, as the KafkaSource delivers. */
export async function postBinary(
  url: string,
  type: string,
  data: unknown,
  extra: Record<string, string> = {},
) {
  const res = await fetch(`${url}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': uniqueId('ev'),
      'ce-source': '/test',
      'ce-type': type,
      'ce-time': new Date().toISOString(),
      ...extra,
    },
    body: typeof data === 'string' ? data : JSON.stringify(data),
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

export async function postStructured(
  url: string,
  type: string,
  data: unknown,
  attributes: Record<string, unknown> = {},
) {
  const res = await fetch(`${url}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({
      specversion: '1.0',
      id: uniqueId('ev'),
      source: '/test',
      type,
      datacontenttype: 'application/json',
      data,
      ...attributes,
    }),
  });
  return { status: res.status, body: await res.text() };
}
