// Ground truth for what an attack sent (`--labels`): the generator knows which transactions are fraud, so
// it can play the labellers. Analysts review a share of all traffic (`--label-coverage`) after about
// `--label-delay`; every fraud is also charged back after about `--chargeback-delay`. So frauds are always
// labelled eventually and legit transactions only sometimes, as in production. Each delay is drawn
// uniformly in [0.5, 1.5] x its mean (seeded), so the label-delay histogram has a spread. Labels are
// CloudEvents dev.fraud.label.v1 on the labels topic (docs/DESIGN.md), keyed by card, binary mode.
import { LABEL_TYPE, type Label, type LabelSource, Mulberry32, type Transaction } from '@fraud/transactions';
import { Kafka, logLevel, type Message, type Producer } from 'kafkajs';

export const LABEL_SOURCE = '/attack-generator';

export interface LabelOptions {
  /** Share of transactions an analyst reviews (legit ones are labelled only then), 0..1. */
  coverage: number;
  /** Mean analyst delay, seconds. */
  labelDelaySeconds: number;
  /** Mean chargeback delay, seconds (every fraud gets one). */
  chargebackDelaySeconds: number;
  seed: number;
}

export interface PlannedLabel {
  /** Epoch ms when the label is established and published (= labeled_at). */
  at: number;
  label: Label;
}

/** The labels one sent transaction will get: what the labellers would say, and when. */
export class LabelPlanner {
  private readonly rng: Mulberry32;
  constructor(private readonly options: LabelOptions) {
    this.rng = new Mulberry32((options.seed ^ 0x1abe1) >>> 0);
  }

  plan(tx: Transaction, isFraud: boolean, sentAt: number): PlannedLabel[] {
    const out: PlannedLabel[] = [];
    const make = (source: LabelSource, meanSeconds: number): PlannedLabel => {
      const at = Math.round(sentAt + meanSeconds * 1000 * (0.5 + this.rng.next()));
      return {
        at,
        label: {
          transaction_id: tx.transaction_id,
          card_id: tx.card_id,
          is_fraud: isFraud,
          source,
          labeled_at: new Date(at).toISOString(),
        },
      };
    };
    // Draw the review decision for every transaction so the sequence does not depend on the fraud mix.
    const reviewed = this.rng.next() < this.options.coverage;
    if (reviewed) out.push(make('analyst', this.options.labelDelaySeconds));
    if (isFraud) out.push(make('chargeback', this.options.chargebackDelaySeconds));
    return out;
  }
}

/** The Kafka record of a label: CloudEvent in binary mode, key = card_id, id unique per label. */
export function labelMessage(label: Label, source = LABEL_SOURCE): Message {
  return {
    key: label.card_id,
    value: JSON.stringify(label),
    headers: {
      'content-type': 'application/json',
      ce_id: `${label.transaction_id}:${label.source}:${label.labeled_at}`,
      ce_time: label.labeled_at,
      ce_type: LABEL_TYPE,
      ce_source: source,
      ce_specversion: '1.0',
      ce_datacontenttype: 'application/json',
      ce_subject: label.card_id,
      ce_partitionkey: label.card_id,
    },
  };
}

export interface LabelStats {
  topic: string;
  planned: number;
  published: number;
  errors: number;
  fraud: number;
  legit: number;
  bySource: Record<string, number>;
  lastError?: string;
}

/** Holds planned labels until they are due and publishes them in batches; finish() waits for the last. */
export class LabelPublisher {
  readonly stats: LabelStats;
  private readonly producer: Producer;
  private readonly planner: LabelPlanner;
  /** Due labels by 100 ms slot. */
  private readonly slots = new Map<number, Label[]>();
  private pendingCount = 0;
  private lastDue = 0;
  private timer?: NodeJS.Timeout;
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly options: LabelOptions & { bootstrap: string; topic: string; now?: () => number },
  ) {
    this.stats = {
      topic: options.topic,
      planned: 0,
      published: 0,
      errors: 0,
      fraud: 0,
      legit: 0,
      bySource: {},
    };
    this.planner = new LabelPlanner(options);
    const kafka = new Kafka({
      clientId: 'attack-labels',
      brokers: [options.bootstrap],
      logLevel: logLevel.NOTHING,
    });
    this.producer = kafka.producer({ allowAutoTopicCreation: false });
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  async connect(): Promise<void> {
    try {
      await this.producer.connect();
      await this.producer.send({ topic: this.options.topic, messages: [] });
    } catch (err) {
      throw new Error(
        `cannot publish labels to ${this.options.topic} on ${this.options.bootstrap}: ${(err as Error).message}`,
      );
    }
    this.timer = setInterval(() => this.flush(), 100);
  }

  /** Plans the labels of transactions just handed to the target. */
  observe(events: { tx: Transaction; isFraud: boolean }[]): void {
    const now = this.now();
    for (const { tx, isFraud } of events) {
      for (const planned of this.planner.plan(tx, isFraud, now)) {
        const slot = Math.ceil(planned.at / 100);
        const list = this.slots.get(slot);
        if (list) list.push(planned.label);
        else this.slots.set(slot, [planned.label]);
        this.pendingCount++;
        this.lastDue = Math.max(this.lastDue, planned.at);
        this.stats.planned++;
        if (planned.label.is_fraud) this.stats.fraud++;
        else this.stats.legit++;
        this.stats.bySource[planned.label.source] = (this.stats.bySource[planned.label.source] ?? 0) + 1;
      }
    }
  }

  get pending(): number {
    return this.pendingCount;
  }

  /** Milliseconds until the last planned label is due. */
  get remainingMs(): number {
    return Math.max(0, this.lastDue - this.now());
  }

  private flush(force = false): void {
    const nowSlot = Math.floor(this.now() / 100);
    const due: Label[] = [];
    for (const [slot, labels] of this.slots) {
      if (force || slot <= nowSlot) {
        due.push(...labels);
        this.slots.delete(slot);
      }
    }
    if (due.length === 0) return;
    this.pendingCount -= due.length;
    for (let i = 0; i < due.length; i += 500) {
      const batch = due.slice(i, i + 500);
      const send = this.producer
        .send({ topic: this.options.topic, acks: -1, messages: batch.map((l) => labelMessage(l)) })
        .then(() => {
          this.stats.published += batch.length;
        })
        .catch((err: Error) => {
          this.stats.errors += batch.length;
          this.stats.lastError = err.message;
        });
      this.inFlight.add(send);
      void send.finally(() => this.inFlight.delete(send));
    }
  }

  /** Waits until every planned label is due and published (or the time is up), then stops. */
  async finish(timeoutMs = this.remainingMs + 10_000): Promise<LabelStats> {
    const deadline = Date.now() + timeoutMs;
    while (this.pendingCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    clearInterval(this.timer);
    this.flush(true);
    await Promise.all(this.inFlight);
    return this.stats;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.producer.disconnect();
  }
}
