// The local KafkaSource: a consumer group that delivers each record to the sink as a binary-mode CloudEvent,
// ordered (one event in flight per partition) or unordered (a window of events per partition), retries with
// backoff, dead-letters what cannot be delivered, and commits an offset only after its event ended in
// success or the dead-letter topic (at-least-once: a crash redelivers, never loses).
import type { CloudEvent } from 'cloudevents';
import {
  type Consumer,
  type EachBatchPayload,
  Kafka,
  type KafkaMessage,
  logLevel,
  type Producer,
} from 'kafkajs';
import { deadLetterRecord } from './dead-letter.ts';
import { type DeliveryOutcome, HttpSink, knativeDefaultRetry, type RetryPolicy } from './deliver.ts';
import { toHttpBinary } from './http-binary.ts';
import { recordToEvent, type SourceRecord, wrapRecord } from './records.ts';

export type Ordering = 'ordered' | 'unordered';

export interface DispatcherOptions {
  bootstrap: string;
  topics: string[];
  groupId: string;
  sinkUrl: string;
  /** Where undeliverable events go; without one they are dropped (and counted), as with a KafkaSource. */
  deadLetterTopic?: string;
  ordering?: Ordering;
  /** Unordered only: events in flight per partition. */
  maxInFlightPerPartition?: number;
  retry?: Partial<RetryPolicy>;
  initialOffset?: 'earliest' | 'latest';
  /** Name used in the `source` of wrapped records. */
  sourceName?: string;
  sessionTimeoutMs?: number;
  log?: (message: string) => void;
}

export interface DispatcherStats {
  delivered: number;
  deadLettered: number;
  dropped: number;
  retriedAttempts: number;
  wrapped: number;
  inFlight: number;
}

type Outcome = 'delivered' | 'dead-lettered' | 'dropped' | 'abandoned';

export class Dispatcher {
  readonly stats: DispatcherStats = {
    delivered: 0,
    deadLettered: 0,
    dropped: 0,
    retriedAttempts: 0,
    wrapped: 0,
    inFlight: 0,
  };
  private readonly kafka: Kafka;
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly sink: HttpSink;
  private readonly retry: RetryPolicy;
  private readonly ordering: Ordering;
  private readonly window: number;
  private readonly sourceName: string;
  private stopping = false;
  private readonly log: (message: string) => void;

  constructor(private readonly options: DispatcherOptions) {
    this.ordering = options.ordering ?? 'ordered';
    this.window = this.ordering === 'ordered' ? 1 : Math.max(1, options.maxInFlightPerPartition ?? 32);
    this.retry = { ...knativeDefaultRetry, ...options.retry };
    this.sourceName = options.sourceName ?? 'local-dispatcher';
    this.log = options.log ?? (() => {});
    this.kafka = new Kafka({
      clientId: `local-dispatcher-${options.groupId}`,
      brokers: [options.bootstrap],
      logLevel: logLevel.NOTHING,
    });
    const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
    this.consumer = this.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout,
      heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 5)),
      maxBytesPerPartition: 2 * 1024 * 1024,
    });
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false });
    // One socket per event that can be in flight; the scorer's keep-alive connections are reused.
    this.sink = new HttpSink(options.sinkUrl, 1024);
  }

  async start(): Promise<void> {
    await this.producer.connect();
    await this.consumer.connect();
    for (const topic of this.options.topics) {
      await this.consumer.subscribe({
        topic,
        fromBeginning: (this.options.initialOffset ?? 'latest') === 'earliest',
      });
    }
    await this.consumer.run({
      autoCommit: true,
      autoCommitInterval: 500,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 64,
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.log(
      `dispatching ${this.options.topics.join(',')} -> ${this.options.sinkUrl} (${this.ordering}, group ${this.options.groupId})`,
    );
  }

  /** Stops taking records; events mid-retry are abandoned uncommitted, so they are redelivered later. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer.disconnect();
    await this.producer.disconnect();
    this.sink.close();
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale } = payload;
    const messages = batch.messages;
    const done: boolean[] = new Array(messages.length).fill(false);
    let next = 0; // first message not yet resolved: offsets are resolved strictly in order
    let abandoned = false;
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < messages.length; i++) {
      if (!isRunning() || isStale() || this.stopping || abandoned) break;
      while (inFlight.size >= this.window) await Promise.race(inFlight);
      if (abandoned) break;
      const message = messages[i] as KafkaMessage;
      const index = i;
      const task = this.handle(batch.topic, batch.partition, message, heartbeat).then((outcome) => {
        if (outcome === 'abandoned') {
          abandoned = true;
          return;
        }
        done[index] = true;
        while (next < messages.length && done[next]) {
          resolveOffset((messages[next] as KafkaMessage).offset);
          next++;
        }
      });
      const tracked = task.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      if (inFlight.size === 1 || i % 64 === 0) {
        await commitOffsetsIfNecessary();
        await heartbeat();
      }
    }
    await Promise.all(inFlight);
    await commitOffsetsIfNecessary();
  }

  private async handle(
    topic: string,
    partition: number,
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
  ): Promise<Outcome> {
    const record: SourceRecord = {
      topic,
      partition,
      offset: message.offset,
      key: message.key,
      value: message.value,
      headers: message.headers ?? {},
      timestamp: message.timestamp,
    };
    const mapped = recordToEvent(record, this.sourceName);
    if (!mapped.ok) {
      const wrapped = wrapRecord(record, this.sourceName);
      if (!wrapped.ok) throw new Error(`cannot even wrap record ${topic}/${partition}/${message.offset}`);
      return this.deadLetter(record, wrapped.event, undefined, Buffer.from(mapped.reason));
    }
    if (mapped.wrapped) this.stats.wrapped++;
    this.stats.inFlight++;
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.sink.deliver(
        toHttpBinary(mapped.event),
        this.retry,
        heartbeat,
        () => this.stopping,
      );
    } finally {
      this.stats.inFlight--;
    }
    this.stats.retriedAttempts += outcome.attempts - 1;
    if (outcome.ok) {
      this.stats.delivered++;
      return 'delivered';
    }
    if (this.stopping) return 'abandoned';
    const reason = outcome.error
      ? Buffer.from(`${outcome.error} (after ${outcome.attempts} attempts)`)
      : outcome.body;
    return this.deadLetter(record, mapped.event, outcome.status, reason);
  }

  private async deadLetter(
    record: SourceRecord,
    event: CloudEvent<unknown>,
    status: number | undefined,
    data: Buffer,
  ): Promise<Outcome> {
    if (!this.options.deadLetterTopic) {
      this.stats.dropped++;
      this.log(
        `dropped ${record.topic}/${record.partition}/${record.offset}: ${data.toString().slice(0, 200)}`,
      );
      return 'dropped';
    }
    const dl = deadLetterRecord({ event, record, sinkUrl: this.options.sinkUrl, status, data });
    // kafkajs retries the send itself; if it still fails the batch fails and the record is redelivered.
    await this.producer.send({
      topic: this.options.deadLetterTopic,
      acks: -1,
      messages: [{ key: dl.key, value: dl.value, headers: dl.headers }],
    });
    this.stats.deadLettered++;
    return 'dead-lettered';
  }
}
