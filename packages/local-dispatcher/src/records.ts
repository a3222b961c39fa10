// Turns a Kafka record into the CloudEvent the KafkaSource would deliver: records already in CloudEvent
// form (binary `ce_*` headers, or structured `application/cloudevents+json`) pass through; anything else is
// wrapped as `dev.knative.kafka.event` with `id = partition:<p>/offset:<o>`.
import { CloudEvent, Kafka, type KafkaMessage } from 'cloudevents';

export interface SourceRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
  timestamp?: string;
}

export type Mapped =
  | { ok: true; event: CloudEvent<unknown>; wrapped: boolean }
  | { ok: false; reason: string; wrapped: false };

/** kafkajs headers arrive as Buffers (or arrays for repeated keys); the SDK wants strings. */
export function headersAsStrings(headers: SourceRecord['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) out[name.toLowerCase()] = last.toString();
  }
  return out;
}

function isCloudEventRecord(headers: Record<string, string>): boolean {
  if ('ce_specversion' in headers) return true;
  return (headers['content-type'] ?? '').toLowerCase().startsWith('application/cloudevents+json');
}

/** The KafkaSource's CloudEvent `source` for records it wraps. */
export function wrapSource(sourceName: string, topic: string): string {
  return `/apis/v1/namespaces/local/kafkasources/${sourceName}#${topic}`;
}

export function recordToEvent(record: SourceRecord, sourceName: string): Mapped {
  const headers = headersAsStrings(record.headers);
  if (isCloudEventRecord(headers)) {
    try {
      const message: KafkaMessage<Buffer | string> = {
        headers,
        key: record.key ?? '',
        value: record.value ?? '',
        body: record.value ?? '',
      };
      const event = Kafka.toEvent(message) as CloudEvent<unknown>;
      // The SDK maps the Kafka key onto partitionkey as a Buffer; CloudEvent attributes are strings.
      const partitionkey = (event as { partitionkey?: unknown }).partitionkey;
      const fixed =
        partitionkey instanceof Uint8Array
          ? event.cloneWith({ partitionkey: Buffer.from(partitionkey).toString() })
          : event;
      fixed.validate();
      return { ok: true, event: fixed, wrapped: false };
    } catch (err) {
      return { ok: false, reason: `invalid CloudEvent record: ${describe(err)}`, wrapped: false };
    }
  }
  return wrapRecord(record, sourceName, headers);
}

/** The KafkaSource's envelope for a record that is not a CloudEvent (also used to dead-letter broken ones). */
export function wrapRecord(
  record: SourceRecord,
  sourceName: string,
  headers: Record<string, string> = headersAsStrings(record.headers),
): Mapped {
  const key = record.key?.toString();
  const attributes: Record<string, unknown> = {
    specversion: '1.0',
    type: 'dev.knative.kafka.event',
    source: wrapSource(sourceName, record.topic),
    subject: `partition:${record.partition}#${record.offset}`,
    id: `partition:${record.partition}/offset:${record.offset}`,
    data: record.value ?? undefined,
  };
  if (headers['content-type']) attributes.datacontenttype = headers['content-type'];
  if (record.timestamp) attributes.time = new Date(Number(record.timestamp)).toISOString();
  if (key !== undefined) {
    attributes.key = key;
    attributes.partitionkey = key;
  }
  try {
    return { ok: true, event: new CloudEvent(attributes, false), wrapped: true };
  } catch (err) {
    return { ok: false, reason: `could not wrap record: ${describe(err)}`, wrapped: false };
  }
}

export function describe(err: unknown): string {
  if (
    err &&
    typeof err === 'object' &&
    'errors' in err &&
    Array.isArray((err as { errors: unknown }).errors)
  ) {
    return `${(err as { message?: string }).message} ${JSON.stringify((err as { errors: unknown[] }).errors).slice(0, 300)}`;
  }
  return err instanceof Error ? err.message : String(err);
}
