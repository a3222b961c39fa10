// Builds the dead-letter record: the original event (binary mode) plus the KafkaSource's error extensions
// knativeerrordest (the sink), knativeerrorcode (last HTTP status) and knativeerrordata (the sink's
// answer or the reason, base64, at most 1 KiB).
import { type CloudEvent, Kafka } from 'cloudevents';
import type { SourceRecord } from './records.ts';

export interface DeadLetterInput {
  /** The event as delivered, or the record wrapped as dev.knative.kafka.event when it was no valid CloudEvent. */
  event: CloudEvent<unknown>;
  record: SourceRecord;
  sinkUrl: string;
  status?: number;
  data: Buffer;
}

export interface DeadLetterRecord {
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers: Record<string, string>;
}

function errorExtensions(input: DeadLetterInput): Record<string, string> {
  const ext: Record<string, string> = {
    knativeerrordest: input.sinkUrl,
    knativeerrordata: input.data.subarray(0, 1024).toString('base64'),
  };
  if (input.status !== undefined) ext.knativeerrorcode = String(input.status);
  return ext;
}

export function deadLetterRecord(input: DeadLetterInput): DeadLetterRecord {
  const ext = errorExtensions(input);
  let data = input.event.data;
  // Kafka.binary does not JSON-encode data: do it for JSON content.
  if (
    data !== undefined &&
    !Buffer.isBuffer(data) &&
    !(data instanceof Uint8Array) &&
    typeof data !== 'string'
  ) {
    data = JSON.stringify(data);
  }
  const event = input.event.cloneWith({ ...ext, data }, false);
  const message = Kafka.binary(event);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined && value !== null) headers[name] = String(value);
  }
  return { key: input.record.key, value: (message.value as Buffer | string | undefined) ?? null, headers };
}
