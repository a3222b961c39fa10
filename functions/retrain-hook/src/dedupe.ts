/**
 * Remembers event ids for as long as their signature could still be accepted (the replay window),
 * so a re-delivered event is answered without acting twice. Older duplicates are refused as stale
 * by the signature check, and after a restart the MLflow tags make processing idempotent anyway.
 */
export class SeenEvents {
  private readonly seen = new Map<string, number>();
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /** 'new' claims the id; 'in_flight' and 'done' mean someone already has it. */
  claim(id: string, now = Date.now()): 'new' | 'in_flight' | 'done' {
    this.evict(now);
    if (this.inFlight.has(id)) return 'in_flight';
    if (this.seen.has(id)) return 'done';
    this.inFlight.add(id);
    return 'new';
  }

  /** The event was handled (any final answer): remember it. */
  complete(id: string, now = Date.now()): void {
    this.inFlight.delete(id);
    this.seen.set(id, now + this.ttlMs);
    if (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  /** Handling failed in a way the sender should retry (503): forget the claim. */
  release(id: string): void {
    this.inFlight.delete(id);
  }

  private evict(now: number): void {
    for (const [id, expires] of this.seen) {
      if (expires > now) break; // insertion order = expiry order
      this.seen.delete(id);
    }
  }
}
