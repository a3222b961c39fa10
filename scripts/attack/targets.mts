// Where events go: Kafka (CloudEvents on the transactions topic, many messages per produce call since
// kafkajs has no linger) or HTTP straight at the scorer (one binary-mode CloudEvent per POST).
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import { toHttpBinary } from '@fraud/local-dispatcher/http-binary';
import { memoizedDefaultPartitioner } from '@fraud/local-dispatcher/kafka-partitioner.mjs';
import { type RecordEncoder, useRecordEncoder } from '@fraud/local-dispatcher/kafka-record.mjs';
import { transactionEvent, transactionMessage } from '@fraud/local-dispatcher/transaction-event';
import type { Transaction } from '@fraud/transactions';
import { Kafka, logLevel, type Message, Partitioners, type Producer } from 'kafkajs';

export const SOURCE = '/attack-generator';

export interface TargetStats {
  sent: number;
  acked: number;
  errors: number;
  lastError?: string;
}

export interface Target {
  readonly name: string;
  readonly stats: TargetStats;
  /** Calls (produce requests or HTTP requests) in flight. */
  readonly inFlight: number;
  /** Most events one call may carry. */
  readonly batchSize: number;
  /** Kafka targets: the record encoder in use (and why, if not the one asked for). */
  readonly recordEncoder?: { encoder: RecordEncoder; reason?: string };
  connect(): Promise<void>;
  /** Starts sending these events; latency (ms) of each acknowledged call goes to onLatency. */
  send(events: Transaction[]): void;
  /** Waits until nothing is in flight. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

abstract class Base {
  readonly stats: TargetStats = { sent: 0, acked: 0, errors: 0 };
  inFlight = 0;
  private idle: (() => void)[] = [];

  constructor(protected readonly onLatency: (ms: number, events: number) => void) {}

  protected track(events: number, work: Promise<void>): void {
    this.inFlight++;
    this.stats.sent += events;
    const started = performance.now();
    work
      .then(() => {
        this.stats.acked += events;
        this.onLatency(performance.now() - started, events);
      })
      .catch((err: Error) => {
        this.stats.errors += events;
        this.stats.lastError = err.message;
      })
      .finally(() => {
        this.inFlight--;
        if (this.inFlight === 0) for (const w of this.idle.splice(0)) w();
      });
  }

  drain(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((r) => this.idle.push(r));
  }
}

export class KafkaTarget extends Base implements Target {
  readonly name = 'kafka';
  readonly recordEncoder: { encoder: RecordEncoder; reason?: string };
  private readonly producer: Producer;

  constructor(
    private readonly options: {
      bootstrap: string;
      topic: string;
      mode: 'binary' | 'structured';
      batchSize: number;
      encoder: RecordEncoder;
    },
    onLatency: (ms: number, events: number) => void,
  ) {
    super(onLatency);
    // Before the producer's first send: kafkajs loads its record encoder then.
    this.recordEncoder = useRecordEncoder(options.encoder);
    const kafka = new Kafka({
      clientId: 'attack-generator',
      brokers: [options.bootstrap],
      logLevel: logLevel.NOTHING,
    });
    this.producer = kafka.producer({
      allowAutoTopicCreation: false,
      maxInFlightRequests: 64,
      createPartitioner:
        this.recordEncoder.encoder === 'fast' ? memoizedDefaultPartitioner : Partitioners.DefaultPartitioner,
    });
  }

  get batchSize(): number {
    return this.options.batchSize;
  }

  async connect(): Promise<void> {
    try {
      await this.producer.connect();
      // The first send fetches metadata and opens connections; do it before the clock starts.
      await this.producer.send({ topic: this.options.topic, messages: [] });
    } catch (err) {
      throw new Error(`cannot reach Kafka at ${this.options.bootstrap}: ${(err as Error).message}`);
    }
  }

  send(events: Transaction[]): void {
    const time = new Date().toISOString();
    const messages = events.map((tx) =>
      transactionMessage(tx, { source: SOURCE, mode: this.options.mode, time }),
    );
    this.track(
      events.length,
      this.producer.send({ topic: this.options.topic, acks: -1, messages }).then(() => undefined),
    );
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

/** A stable worker index for a key (FNV-1a over its UTF-16 code units). */
export function workerOf(key: string, workers: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % workers;
}

/** Kafka through N worker threads, each with its own producer (events are encoded here, records there). */
export class KafkaWorkersTarget extends Base implements Target {
  readonly name = 'kafka';
  recordEncoder?: { encoder: RecordEncoder; reason?: string };
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextId = 0;

  constructor(
    private readonly options: {
      bootstrap: string;
      topic: string;
      mode: 'binary' | 'structured';
      batchSize: number;
      producers: number;
      encoder: RecordEncoder;
    },
    onLatency: (ms: number, events: number) => void,
  ) {
    super(onLatency);
  }

  get batchSize(): number {
    return this.options.batchSize;
  }

  async connect(): Promise<void> {
    const url = new URL('./kafka-worker.mjs', import.meta.url);
    await Promise.all(
      Array.from({ length: this.options.producers }, async () => {
        const worker = new Worker(url, {
          workerData: {
            bootstrap: this.options.bootstrap,
            topic: this.options.topic,
            encoder: this.options.encoder,
          },
        });
        this.workers.push(worker);
        await new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.once(
            'message',
            (m: {
              ready: boolean;
              error?: string;
              recordEncoder: { encoder: RecordEncoder; reason?: string };
            }) => {
              this.recordEncoder = m.recordEncoder;
              if (m.ready) resolve();
              else reject(new Error(`cannot reach Kafka at ${this.options.bootstrap}: ${m.error}`));
            },
          );
        });
        worker.on('message', (m: { id: number; ok: boolean; error?: string }) => {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (m.ok) p?.resolve();
          else p?.reject(new Error(m.error));
        });
      }),
    );
  }

  send(events: Transaction[]): void {
    const time = new Date().toISOString();
    // Each card always goes through the same worker (one connection), so its events stay in order.
    const groups: Message[][] = this.workers.map(() => []);
    for (const tx of events) {
      const message = transactionMessage(tx, { source: SOURCE, mode: this.options.mode, time });
      (groups[workerOf(tx.card_id, groups.length)] as Message[]).push(message);
    }
    const calls = groups.flatMap((messages, w) => {
      if (messages.length === 0) return [];
      const id = this.nextId++;
      return [
        new Promise<void>((resolve, reject) => {
          this.pending.set(id, { resolve, reject });
          (this.workers[w] as Worker).postMessage({ id, messages });
        }),
      ];
    });
    this.track(
      events.length,
      Promise.all(calls).then(() => undefined),
    );
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            w.postMessage({ close: true });
            setTimeout(() => void w.terminate(), 5000).unref();
          }),
      ),
    );
  }
}

export class HttpTarget extends Base implements Target {
  readonly name = 'http';
  readonly batchSize = 1;
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(url: string, concurrency: number, onLatency: (ms: number, events: number) => void) {
    super(onLatency);
    this.url = new URL(url);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  }

  async connect(): Promise<void> {
    const ready = await fetch(new URL('/health/readiness', this.url)).catch((err: Error) => err);
    if (ready instanceof Error)
      throw new Error(`cannot reach the scorer at ${this.url.href}: ${ready.message}`);
  }

  send(events: Transaction[]): void {
    for (const tx of events) {
      const message = toHttpBinary(transactionEvent(tx, SOURCE));
      this.track(1, this.post(message.headers, message.body));
    }
  }

  private post(headers: Record<string, string>, body: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { ...headers, 'content-length': String(body.length) },
          timeout: 30_000,
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode && res.statusCode < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout after 30 s')));
      req.on('error', reject);
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
