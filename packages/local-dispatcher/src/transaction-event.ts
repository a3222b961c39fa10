// Encodes a transaction as the Kafka record the platform expects on `transactions` (docs/DESIGN.md): a
// CloudEvent dev.fraud.transaction.v1, id = transaction_id, subject = partitionkey = card_id, data = the
// transaction as JSON, Kafka key = card_id; binary content mode (ce_* headers) or structured.
import { CloudEvent, Kafka } from 'cloudevents';
import type { Message } from 'kafkajs';

export const TRANSACTION_TYPE = 'dev.fraud.transaction.v1';
export type ContentMode = 'binary' | 'structured';

/** Any object with the two fields the envelope needs (a Transaction, or a deliberately broken one in tests). */
export interface TransactionLike {
  transaction_id: string;
  card_id: string;
}

export function transactionEvent(
  tx: TransactionLike,
  source: string,
  time = new Date(),
): CloudEvent<unknown> {
  return new CloudEvent<unknown>(
    {
      specversion: '1.0',
      type: TRANSACTION_TYPE,
      source,
      id: tx.transaction_id,
      subject: tx.card_id,
      partitionkey: tx.card_id,
      time: time.toISOString(),
      datacontenttype: 'application/json',
      data: tx,
    },
    false,
  );
}

/** The reference encoding, through the cloudevents SDK's Kafka binding (about 20x slower than the fast path). */
export function transactionMessageViaSdk<T extends TransactionLike>(
  tx: T,
  options: { source: string; mode?: ContentMode; time?: Date },
): Message {
  const event = transactionEvent(tx, options.source, options.time);
  if (options.mode === 'structured') {
    const m = Kafka.structured(event);
    return {
      key: tx.card_id,
      value: m.value as string,
      headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
    };
  }
  const m = Kafka.binary(event);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(m.headers)) if (value != null) headers[name] = String(value);
  // Kafka.binary leaves object data as is; the record value must be the JSON text.
  return { key: tx.card_id, value: JSON.stringify(tx), headers };
}

/**
 * The same record as transactionMessageViaSdk (a test holds them equal), built directly: the attack
 * generator's hot path, where the SDK's per-event validation would cap the send rate.
 */
export function transactionMessage<T extends TransactionLike>(
  tx: T,
  options: { source: string; mode?: ContentMode; time?: Date | string },
): Message {
  // A caller sending a batch passes one ISO string for all of it.
  const time = typeof options.time === 'string' ? options.time : (options.time ?? new Date()).toISOString();
  if (options.mode === 'structured') {
    const value = JSON.stringify({
      id: tx.transaction_id,
      time,
      type: TRANSACTION_TYPE,
      source: options.source,
      specversion: '1.0',
      datacontenttype: 'application/json',
      subject: tx.card_id,
      data: tx,
      partitionkey: tx.card_id,
    });
    return {
      key: tx.card_id,
      value,
      headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
    };
  }
  return {
    key: tx.card_id,
    value: JSON.stringify(tx),
    headers: {
      'content-type': 'application/json',
      ce_id: tx.transaction_id,
      ce_time: time,
      ce_type: TRANSACTION_TYPE,
      ce_source: options.source,
      ce_specversion: '1.0',
      ce_datacontenttype: 'application/json',
      ce_subject: tx.card_id,
      ce_partitionkey: tx.card_id,
    },
  };
}
