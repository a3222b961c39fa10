// The local KafkaSink: an HTTP endpoint that takes CloudEvents (binary or structured) and produces each one
// to a Kafka topic (binary content mode by default, key = partitionkey or subject), answering 202 only
// after the broker acknowledged it. Requests arriving together share one produce call.
import { Kafka as CeKafka, type CloudEvent, HTTP } from 'cloudevents';
import Fastify, { type FastifyInstance } from 'fastify';
import { Kafka, logLevel, type Message, Partitioners, type Producer } from 'kafkajs';
import { httpBinaryToKafka } from './fast-binary.ts';
import { memoizedDefaultPartitioner } from './kafka-partitioner.mjs';
import { useRecordEncoder } from './kafka-record.mjs';
import { describe } from './records.ts';

export interface BridgeOptions {
  bootstrap: string;
  topic: string;
  contentMode?: 'binary' | 'structured';
  port?: number;
  host?: string;
  bodyLimit?: number;
  /** How long a decision may wait for others to share its produce call (LINGER_MS, default 0). */
  lingerMs?: number;
}

export interface Bridge {
  url: string;
  app: FastifyInstance;
  produced(): number;
  close(): Promise<void>;
}

class BatchingProducer {
  private queue: { message: Message; resolve: () => void; reject: (err: Error) => void }[] = [];
  private scheduled = false;
  count = 0;

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    /** 0: flush once the requests that arrived together are queued; more: wait that long for company. */
    private readonly lingerMs: number,
  ) {}

  send(message: Message): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ message, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        if (this.lingerMs > 0) setTimeout(() => void this.flush(), this.lingerMs);
        else setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.queue.splice(0);
    if (batch.length === 0) return;
    try {
      await this.producer.send({ topic: this.topic, acks: -1, messages: batch.map((b) => b.message) });
      this.count += batch.length;
      for (const b of batch) b.resolve();
    } catch (err) {
      for (const b of batch) b.reject(err as Error);
    }
  }
}

function toMessage(event: CloudEvent<unknown>, mode: 'binary' | 'structured'): Message {
  const key = String(event.partitionkey ?? event.subject ?? '') || null;
  if (mode === 'structured') {
    const m = CeKafka.structured(event);
    return { key, value: m.value as string, headers: { 'content-type': String(m.headers['content-type']) } };
  }
  let data = event.data;
  if (data !== undefined && !Buffer.isBuffer(data) && typeof data !== 'string') data = JSON.stringify(data);
  const m = CeKafka.binary(event.cloneWith({ data }, false));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(m.headers)) if (value != null) headers[name] = String(value);
  return { key, value: (m.value as Buffer | string | undefined) ?? null, headers };
}

/** The reference mapping through the cloudevents SDK; throws for anything that is not a valid CloudEvent. */
export function viaSdk(
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
  mode: 'binary' | 'structured',
): Message {
  const parsed: unknown = HTTP.toEvent({ headers: headers as Record<string, string>, body: body.toString() });
  if (Array.isArray(parsed))
    throw new Error('batched CloudEvents are not accepted here; send one per request');
  const event = parsed as CloudEvent<unknown>;
  event.validate();
  return toMessage(event, mode);
}

export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const kafka = new Kafka({
    clientId: 'local-kafka-sink',
    brokers: [options.bootstrap],
    logLevel: logLevel.NOTHING,
  });
  // kafkajs' own record encoding and key hashing were the bridge's top cost on the local event path
  // (profile in BENCHMARKS.md); the attack generator's drop-ins write the same bytes (tested there).
  const encoder = useRecordEncoder('fast');
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner:
      encoder.encoder === 'fast' ? memoizedDefaultPartitioner : Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const batching = new BatchingProducer(producer, options.topic, options.lingerMs ?? 0);
  const mode = options.contentMode ?? 'binary';

  const app = Fastify({ bodyLimit: options.bodyLimit ?? 1024 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.get('/health', async () => ({ ok: true }));
  // Any path, like the KafkaSink ingress (/<namespace>/<name>).
  app.post('/*', async (request, reply) => {
    const body = request.body instanceof Buffer ? request.body : Buffer.alloc(0);
    // The common case (binary mode, JSON data, plain attributes) skips the SDK; the rest takes it.
    let message: Message | undefined =
      mode === 'binary' ? httpBinaryToKafka(request.headers, body) : undefined;
    if (!message) {
      try {
        message = viaSdk(request.headers, body, mode);
      } catch (err) {
        return reply.code(400).send({ error: `not a valid CloudEvent: ${describe(err)}` });
      }
    }
    try {
      await batching.send(message);
    } catch (err) {
      return reply.code(503).send({ error: `Kafka did not accept the event: ${describe(err)}` });
    }
    return reply.code(202).send();
  });
  const address = await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  return {
    url: address,
    app,
    produced: () => batching.count,
    async close() {
      await app.close();
      await producer.disconnect();
    },
  };
}
