// Encodes a CloudEvent as an HTTP request in binary content mode (what the KafkaSource sends to its sink):
// attributes as `ce-*` headers, data as the body in its own content type.
import type { CloudEvent } from 'cloudevents';

/** Header values are percent-encoded outside printable ASCII, as the CloudEvents HTTP binding asks. */
export function encodeHeaderValue(value: string): string {
  // Per code point (u flag): a surrogate pair must be encoded as one UTF-8 sequence.
  return value.replace(/[^\x21-\x24\x26-\x7e ]|[ "%]/gu, (ch) =>
    [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

export interface HttpMessage {
  headers: Record<string, string>;
  body: Buffer;
}

export function toHttpBinary(event: CloudEvent<unknown>): HttpMessage {
  const headers: Record<string, string> = {};
  let body: Buffer = Buffer.alloc(0);
  for (const [name, value] of Object.entries(event)) {
    if (value === undefined || value === null) continue;
    if (name === 'data') {
      if (Buffer.isBuffer(value)) body = value;
      else if (value instanceof Uint8Array) body = Buffer.from(value);
      else if (typeof value === 'string') body = Buffer.from(value);
      else body = Buffer.from(JSON.stringify(value));
      continue;
    }
    if (name === 'data_base64') {
      if (event.data === undefined) body = Buffer.from(String(value), 'base64');
      continue;
    }
    if (name === 'datacontenttype') {
      headers['content-type'] = String(value);
      continue;
    }
    const text = value instanceof Date ? value.toISOString() : String(value);
    headers[`ce-${name}`] = encodeHeaderValue(text);
  }
  if (!headers['content-type'] && body.length > 0) headers['content-type'] = 'application/octet-stream';
  return { headers, body };
}
