// Rows wait a few milliseconds (or until maxRows) to share one multi-row INSERT. When a batch fails for a
// reason of its own rows (a data error), each row is retried alone, so one bad row fails only its own event;
// when the database is unreachable, every row of the batch fails as unavailable (the source retries).

export interface BatcherOptions<T> {
  maxRows: number;
  maxWaitMs: number;
  /** Writes the rows in one statement. */
  write(rows: T[]): Promise<void>;
  /** True when an error means "database unavailable" rather than "bad row". */
  isUnavailable(error: unknown): boolean;
  onBatch?(rows: number, ms: number, outcome: 'ok' | 'split' | 'unavailable'): void;
}

interface Pending<T> {
  row: T;
  resolve(): void;
  reject(error: unknown): void;
}

export class Batcher<T> {
  private queue: Pending<T>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = new Set<Promise<void>>();

  constructor(private readonly options: BatcherOptions<T>) {}

  add(row: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (this.queue.length >= this.options.maxRows) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.maxWaitMs);
    });
  }

  /** Rows waiting or being written. */
  get pending(): number {
    return this.queue.length + this.running.size;
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxRows);
      const run = this.writeBatch(batch);
      this.running.add(run);
      void run.finally(() => this.running.delete(run));
    }
  }

  /** Writes everything queued and waits for it (shutdown). */
  async drain(): Promise<void> {
    this.flush();
    await Promise.all(this.running);
  }

  private async writeBatch(batch: Pending<T>[]): Promise<void> {
    const started = performance.now();
    try {
      await this.options.write(batch.map((p) => p.row));
      for (const p of batch) p.resolve();
      this.options.onBatch?.(batch.length, performance.now() - started, 'ok');
      return;
    } catch (error) {
      if (batch.length === 1 || this.options.isUnavailable(error)) {
        for (const p of batch) p.reject(error);
        this.options.onBatch?.(
          batch.length,
          performance.now() - started,
          this.options.isUnavailable(error) ? 'unavailable' : 'split',
        );
        return;
      }
    }
    // A bad row spoiled the batch: each row on its own, so only the bad one fails.
    this.options.onBatch?.(batch.length, performance.now() - started, 'split');
    for (const p of batch) {
      try {
        await this.options.write([p.row]);
        p.resolve();
      } catch (error) {
        p.reject(error);
      }
    }
  }
}
