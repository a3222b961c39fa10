// Precise rate control without a linger: at each tick the pacer says how many events are due, so that the
// cumulative count follows the integral of the target rate (scheduled batches). Nothing is owed for time the
// sender fell behind by more than `maxBacklogSeconds`, so a stall cannot turn into a burst.
import type { RateFn } from './shapes.mts';

export interface PacerOptions {
  rate: RateFn;
  /** Stop after this many events (undefined: no count bound). */
  count?: number;
  /** Stop after this many seconds (undefined: no time bound). */
  durationSeconds?: number;
  maxBacklogSeconds?: number;
}

export class Pacer {
  private owed = 0; // events due but not yet handed out (fractional)
  private issued = 0;
  private lastSeconds = 0;

  constructor(private readonly options: PacerOptions) {
    if (options.count === undefined && options.durationSeconds === undefined) {
      throw new Error('a run needs a count or a duration: refusing to run unbounded');
    }
  }

  get total(): number {
    return this.issued;
  }

  /** True once the count is reached or the duration is over. */
  done(nowSeconds: number): boolean {
    if (this.options.count !== undefined && this.issued >= this.options.count) return true;
    return this.options.durationSeconds !== undefined && nowSeconds >= this.options.durationSeconds;
  }

  /** Events to send now, given seconds since the start (monotonic). */
  due(nowSeconds: number): number {
    const end = Math.min(nowSeconds, this.options.durationSeconds ?? Number.POSITIVE_INFINITY);
    if (end > this.lastSeconds) {
      // Midpoint rule over the interval since the last tick, split in 1 ms steps for ramps and profiles.
      const steps = Math.max(1, Math.ceil((end - this.lastSeconds) / 0.001));
      const dt = (end - this.lastSeconds) / steps;
      for (let i = 0; i < steps; i++) this.owed += this.options.rate(this.lastSeconds + (i + 0.5) * dt) * dt;
      this.lastSeconds = end;
    }
    const cap = this.options.rate(end) * (this.options.maxBacklogSeconds ?? 2) + 1;
    if (this.owed > cap) this.owed = cap;
    let n = Math.floor(this.owed + 1e-6); // float sums of many small steps land just under whole numbers
    if (this.options.count !== undefined) n = Math.min(n, this.options.count - this.issued);
    n = Math.max(0, n);
    this.owed -= n;
    this.issued += n;
    return n;
  }
}
