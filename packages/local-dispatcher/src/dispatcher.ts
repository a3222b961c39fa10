// The local KafkaSource: a consumer group that delivers each record to the sink as a binary-mode CloudEvent,
// ordered (one event in flight per partition) or unordered (a window of events per partition), retries with
// backoff, dead-letters what cannot be delivered, and commits an offset only after its event ended in
// success or the dead-letter topic (at-least-once: a crash redelivers, never loses).
//
// Each partition runs its own pipeline, apart from kafkajs' fetch rounds: kafkajs fetches all partitions of a
// broker at once and waits until every batch of the round is handled before it fetches again, so with one
// event in flight per partition the slowest partition of a round held up all the others (the local path's
// in-flight count fell from 48 to 5-9 during the 2 000/s attack, BENCHMARKS.md). Here a fetched batch only
// joins its partition's queue (the partition is paused while the queue is long), the fetch position moves
// on, and offsets are committed by this class every 500 ms up to the first event not yet finished.
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
import { kafkaBinaryToHttp } from './fast-binary.ts';
import { type HttpMessage, toHttpBinary } from './http-binary.ts';
import { headersAsStrings, recordToEvent, type SourceRecord, wrapRecord } from './records.ts';

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
  /** Partition batches handed over by kafkajs (delivered / batches = records per fetched batch). */
  batches: number;
}

type Outcome = 'delivered' | 'dead-lettered' | 'dropped' | 'abandoned';

/** One partition's events: fetched but not started, and started in offset order until committable. */
interface Pipeline {
  topic: string;
  partition: number;
  /** Bumped when the pipeline starts afresh; results of events from an older epoch are not counted. */
  epoch: number;
  queue: KafkaMessage[];
  order: { offset: bigint; done: boolean }[];
  inFlight: number;
  lastQueued?: bigint;
  /** The offset to commit: one past the last event finished in order. */
  committable?: bigint;
  committed?: bigint;
  /** Set while the partition is paused because its queue is long. */
  resume?: () => void;
}

const COMMIT_INTERVAL_MS = 500;
// Per partition: pause fetching above QUEUE_HIGH queued events, resume at QUEUE_LOW.
const QUEUE_HIGH = 2000;
const QUEUE_LOW = 500;
const STOP_GRACE_MS = 5000;
// kafkajs heartbeats from its own fetch loop, which no longer waits for deliveries.
const noHeartbeat = async () => {};

export class Dispatcher {
  readonly stats: DispatcherStats = {
    delivered: 0,
    deadLettered: 0,
    dropped: 0,
    retriedAttempts: 0,
    wrapped: 0,
    inFlight: 0,
    batches: 0,
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
  private committing = false;
  private committer: NodeJS.Timeout | undefined;
  private readonly pipelines = new Map<string, Pipeline>();
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
      // A resumed partition joins the next fetch; an idle long poll should not hold it back for long.
      maxWaitTimeInMs: 200,
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
    // After a rebalance kafkajs fetches again from the committed offsets: start every pipeline afresh.
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => this.resetPipelines());
    await this.consumer.run({
      autoCommit: false, // commits are ours: only finished events (commit())
      eachBatchAutoResolve: false,
      eachBatch: async (payload) => this.onBatch(payload),
    });
    this.committer = setInterval(() => void this.commit(), COMMIT_INTERVAL_MS);
    this.log(
      `dispatching ${this.options.topics.join(',')} -> ${this.options.sinkUrl} (${this.ordering}, group ${this.options.groupId})`,
    );
  }

  /** Stops taking records; events mid-retry are abandoned uncommitted, so they are redelivered later. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.committer) clearInterval(this.committer);
    // Let attempts under way end (a retrying event stops after its current attempt), then commit what finished.
    const until = Date.now() + STOP_GRACE_MS;
    while ([...this.pipelines.values()].some((p) => p.inFlight > 0) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    await this.commit();
    await this.consumer.disconnect();
    await this.producer.disconnect();
    this.sink.close();
  }

  private pipeline(topic: string, partition: number): Pipeline {
    const key = `${topic}|${partition}`;
    let p = this.pipelines.get(key);
    if (!p) {
      p = { topic, partition, epoch: 0, queue: [], order: [], inFlight: 0 };
      this.pipelines.set(key, p);
    }
    return p;
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, pause, isStale } = payload;
    if (this.stopping || isStale()) return;
    this.stats.batches++;
    const p = this.pipeline(batch.topic, batch.partition);
    for (const message of batch.messages) {
      const offset = BigInt(message.offset);
      if (p.lastQueued !== undefined && offset <= p.lastQueued) continue; // fetched again
      p.queue.push(message);
      p.lastQueued = offset;
    }
    const last = batch.messages[batch.messages.length - 1];
    // The fetch position moves on; with autoCommit off kafkajs commits nothing by itself.
    if (last) resolveOffset(last.offset);
    if (p.queue.length >= QUEUE_HIGH && !p.resume) p.resume = pause();
    this.pump(p);
  }

  /** Starts queued events of a partition while its window (1 when ordered) has room. */
  private pump(p: Pipeline): void {
    while (!this.stopping && p.inFlight < this.window && p.queue.length > 0) {
      const message = p.queue.shift() as KafkaMessage;
      const entry = { offset: BigInt(message.offset), done: false };
      p.order.push(entry);
      p.inFlight++;
      const epoch = p.epoch;
      this.handle(p.topic, p.partition, message, noHeartbeat).then(
        (outcome) => this.finished(p, epoch, entry, outcome),
        (err: Error) => this.failed(p, epoch, entry, err),
      );
    }
    if (p.resume && p.queue.length <= QUEUE_LOW) {
      p.resume();
      p.resume = undefined;
    }
  }

  private finished(p: Pipeline, epoch: number, entry: { offset: bigint; done: boolean }, outcome: Outcome) {
    p.inFlight--;
    if (epoch === p.epoch && outcome !== 'abandoned') {
      entry.done = true;
      // Committable up to the first event not finished yet: strictly in order.
      while (p.order[0]?.done) p.committable = (p.order.shift()?.offset as bigint) + 1n;
    }
    this.pump(p);
  }

  /** An event that could not even be dead-lettered: go back to it and try again from there. */
  private failed(p: Pipeline, epoch: number, entry: { offset: bigint }, err: Error) {
    p.inFlight--;
    if (epoch !== p.epoch || this.stopping) return;
    const from = p.order[0]?.offset ?? entry.offset;
    this.log(`${p.topic}/${p.partition}/${entry.offset}: ${err.message}; fetching again from ${from}`);
    this.restart(p);
    const tp = [{ topic: p.topic, partitions: [p.partition] }];
    try {
      // Paused for one backoff, so a broken dead-letter topic does not turn into a busy loop.
      this.consumer.pause(tp);
      this.consumer.seek({ topic: p.topic, partition: p.partition, offset: String(from) });
      setTimeout(() => {
        if (!this.stopping) this.consumer.resume(tp);
      }, this.retry.backoffDelayMs);
    } catch (seekError) {
      this.log(`could not go back to ${from}: ${(seekError as Error).message}`);
    }
  }

  /** Forgets queued and unfinished events (they are fetched again); events still in flight are not counted. */
  private restart(p: Pipeline): void {
    p.epoch++;
    p.queue = [];
    p.order = [];
    p.lastQueued = undefined;
    p.committable = undefined;
    if (p.resume) {
      p.resume();
      p.resume = undefined;
    }
  }

  private resetPipelines(): void {
    for (const p of this.pipelines.values()) this.restart(p);
  }

  /** Commits, per partition, the offset after the last event finished in order. */
  private async commit(): Promise<void> {
    if (this.committing) return;
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    const committed: [Pipeline, bigint][] = [];
    for (const p of this.pipelines.values()) {
      if (p.committable === undefined || p.committable === p.committed) continue;
      offsets.push({ topic: p.topic, partition: p.partition, offset: String(p.committable) });
      committed.push([p, p.committable]);
    }
    if (offsets.length === 0) return;
    this.committing = true;
    try {
      await this.consumer.commitOffsets(offsets);
      for (const [p, offset] of committed) p.committed = offset;
    } catch (err) {
      // Not fatal: the next round commits again; a crash meanwhile redelivers (at-least-once).
      this.log(`committing offsets failed: ${(err as Error).message}`);
    } finally {
      this.committing = false;
    }
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
    // The common case (binary mode, JSON data, plain attributes) skips the SDK; the rest takes it.
    const fast = kafkaBinaryToHttp(headersAsStrings(record.headers), record.key, record.value);
    let event: CloudEvent<unknown> | undefined;
    let request: HttpMessage;
    if (fast) request = fast;
    else {
      const mapped = recordToEvent(record, this.sourceName);
      if (!mapped.ok) {
        const wrapped = wrapRecord(record, this.sourceName);
        if (!wrapped.ok) throw new Error(`cannot even wrap record ${topic}/${partition}/${message.offset}`);
        return this.deadLetter(record, wrapped.event, undefined, Buffer.from(mapped.reason));
      }
      if (mapped.wrapped) this.stats.wrapped++;
      event = mapped.event;
      request = toHttpBinary(event);
    }
    this.stats.inFlight++;
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.sink.deliver(request, this.retry, heartbeat, () => this.stopping);
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
    // A fast-path event gets its CloudEvent form only now, for the dead letter (the SDK accepts it: tested).
    if (!event) {
      const mapped = recordToEvent(record, this.sourceName);
      if (!mapped.ok) throw new Error(`record ${topic}/${partition}/${message.offset}: ${mapped.reason}`);
      event = mapped.event;
    }
    return this.deadLetter(record, event, outcome.status, reason);
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
