// Publishes decisions to DECISION_SINK_URL as binary-mode CloudEvents, off the request path: a KafkaSource
// drops reply events, so this is how decisions reach the `decisions` topic. Bounded buffer (drops, counted,
// when full), a few sends in flight, exponential backoff on retryable failures.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { encodeHeaderValue } from './ce-headers.ts';
import type { ScorerMetrics } from './metrics.ts';

export interface DecisionEvent {
  subject: string | undefined;
  partitionkey: string | undefined;
  data: unknown;
}

export interface SinkOptions {
  url: string;
  maxBuffer: number;
  maxRetries: number;
  concurrency?: number;
  baseBackoffMs?: number;
  metrics: ScorerMetrics;
  log?: (message: string) => void;
}

const RETRYABLE = new Set([404, 408, 409, 429]);
const TIMEOUT_MS = 5000;
// As many sends as the scorer has requests in flight (containerConcurrency 64): in before-reply mode each of
// them waits for its own decision to reach the sink, so fewer would cap the whole event path.
const DEFAULT_CONCURRENCY = 64;

/**
 * One POST over a keep-alive agent. node:http, not fetch: in the local event path's profile (BENCHMARKS.md,
 * issue 12) fetch's WHATWG machinery (undici Request/Response, streams, AbortSignal.timeout) took 47% of
 * the scorer's main thread at one decision per event.
 */
function post(
  url: URL,
  agent: http.Agent,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    const request = (url.protocol === 'https:' ? https : http).request(
      url,
      {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': String(body.length) },
        timeout: TIMEOUT_MS,
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0 }));
        response.on('error', (err) => resolve({ error: err.message }));
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    request.on('error', (err) => resolve({ error: err.message }));
    request.end(body);
  });
}

interface Pending {
  event: DecisionEvent;
  done: (delivered: boolean) => void;
}

export class DecisionSink {
  private readonly buffer: Pending[] = [];
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(private readonly options: SinkOptions) {
    this.url = new URL(options.url);
    const agentOptions = { keepAlive: true, maxSockets: options.concurrency ?? DEFAULT_CONCURRENCY };
    this.agent =
      this.url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  /**
   * Never throws. The returned promise says whether every event was delivered (false when one was dropped
   * because the buffer was full, or failed after its retries). Callers in `after-reply` mode ignore it, so the
   * reply never waits on the sink; `before-reply` mode awaits it so that a decision is acknowledged upstream
   * only once it is in the sink (at-least-once, no loss if the process dies right after replying).
   */
  publish(events: DecisionEvent[]): Promise<boolean> {
    const results: Promise<boolean>[] = [];
    for (const event of events) {
      if (this.buffer.length + this.inFlight >= this.options.maxBuffer) {
        this.options.metrics.sinkEvents.inc({ outcome: 'dropped' });
        results.push(Promise.resolve(false));
        continue;
      }
      results.push(new Promise<boolean>((done) => this.buffer.push({ event, done })));
    }
    this.options.metrics.sinkBufferDepth.set(this.buffer.length + this.inFlight);
    this.pump();
    return Promise.all(results).then((delivered) => delivered.every(Boolean));
  }

  private pump(): void {
    const concurrency = this.options.concurrency ?? DEFAULT_CONCURRENCY;
    while (this.inFlight < concurrency && this.buffer.length > 0) {
      const { event, done } = this.buffer.shift() as Pending;
      this.inFlight++;
      void this.deliver(event)
        .then(done, () => done(false))
        .finally(() => {
          this.inFlight--;
          this.options.metrics.sinkBufferDepth.set(this.buffer.length + this.inFlight);
          if (this.buffer.length > 0) this.pump();
          else if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  private async deliver(event: DecisionEvent): Promise<boolean> {
    const id = randomUUID();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': id,
      'ce-source': '/score',
      'ce-type': 'dev.fraud.decision.v1',
      'ce-time': new Date().toISOString(),
    };
    if (event.subject) headers['ce-subject'] = encodeHeaderValue(event.subject);
    if (event.partitionkey) headers['ce-partitionkey'] = encodeHeaderValue(event.partitionkey);
    const body = Buffer.from(JSON.stringify(event.data));
    const base = this.options.baseBackoffMs ?? 100;
    for (let attempt = 0; ; attempt++) {
      let retryable = true;
      let reason: string;
      const res = await post(this.url, this.agent, headers, body);
      if ('error' in res) reason = res.error;
      else if (res.status >= 200 && res.status < 300) {
        this.options.metrics.sinkEvents.inc({ outcome: 'sent' });
        return true;
      } else {
        retryable = res.status >= 500 || RETRYABLE.has(res.status);
        reason = `HTTP ${res.status}`;
      }
      if (!retryable || attempt >= this.options.maxRetries) {
        this.options.metrics.sinkEvents.inc({ outcome: 'failed' });
        this.options.log?.(
          `decision ${id} not published to ${this.options.url} after ${attempt + 1} tries: ${reason}`,
        );
        return false;
      }
      this.options.metrics.sinkEvents.inc({ outcome: 'retried' });
      const delay = Math.min(base * 2 ** attempt, 10_000) * (0.5 + Math.random() / 2);
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** Closes the kept-alive sockets (after drain). */
  close(): void {
    this.agent.destroy();
  }

  /** Resolves when nothing is buffered or in flight (shutdown), or after timeoutMs. */
  drain(timeoutMs: number): Promise<void> {
    if (this.buffer.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
