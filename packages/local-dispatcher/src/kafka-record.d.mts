// Types for kafka-record.mjs (plain JavaScript so that worker threads can load it without tsx).
export interface InstallResult {
  installed: boolean;
  reason?: string;
}
export interface RecordFields {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: unknown;
  value?: unknown;
  headers?: Record<string, unknown>;
}
/** A kafkajs Encoder holding the record's bytes (its `buffer`), or null when left to kafkajs. */
export function encodeRecord(fields: RecordFields): { buffer: Buffer } | null;
/** kafkajs' own Record v0 encoder. */
export function stockRecord(): (fields: RecordFields) => { buffer: Buffer };
export function installFastRecordEncoder(): InstallResult;
export type RecordEncoder = 'fast' | 'kafkajs';
/** Chooses the encoder for this thread; returns the one in use (and why, when fast was not possible). */
export function useRecordEncoder(kind: RecordEncoder): { encoder: RecordEncoder; reason?: string };
