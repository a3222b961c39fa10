// Delivers one CloudEvent to the sink over HTTP with the KafkaSource's retry policy: exponential backoff
// (delay = backoffDelay * 2^attempt) on 5xx, 404, 408, 409, 429, connection errors and timeouts; any other
// status ends delivery at once. Returns the last outcome, so the caller can dead-letter it.
import http from 'node:http';
import type { HttpMessage } from './http-binary.ts';

export interface RetryPolicy {
  /** Retries after the first attempt (KafkaSource default 10). */
  retries: number;
  /** First backoff in ms (KafkaSource default 300, i.e. PT0.3S). */
  backoffDelayMs: number;
  backoffPolicy: 'exponential' | 'linear';
  /** Per-attempt timeout in ms. */
  timeoutMs: number;
}

export const knativeDefaultRetry: RetryPolicy = {
  retries: 10,
  backoffDelayMs: 300,
  backoffPolicy: 'exponential',
  timeoutMs: 30_000,
};

export interface AttemptResult {
  /** HTTP status, or undefined for a connection error or timeout. */
  status?: number;
  /** The response body (first KiB), or the error message. */
  body: Buffer;
  error?: string;
}

export interface DeliveryOutcome extends AttemptResult {
  ok: boolean;
  attempts: number;
}

const RETRYABLE_STATUS = new Set([404, 408, 409, 429]);

export function isRetryable(result: AttemptResult): boolean {
  if (result.status === undefined) return true;
  return result.status >= 500 || RETRYABLE_STATUS.has(result.status);
}

export function backoffMs(policy: RetryPolicy, attempt: number): number {
  return policy.backoffPolicy === 'exponential'
    ? policy.backoffDelayMs * 2 ** attempt
    : policy.backoffDelayMs * (attempt + 1);
}

export class HttpSink {
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(
    readonly target: string,
    maxSockets: number,
  ) {
    this.url = new URL(target);
    if (this.url.protocol !== 'http:') throw new Error(`sink URL must be http://, got ${target}`);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  post(message: HttpMessage, timeoutMs: number): Promise<AttemptResult> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (result: AttemptResult) => {
        if (settled) return;
        settled = true;
        resolve(result);
      };
      const request = http.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { ...message.headers, 'content-length': String(message.body.length) },
          timeout: timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            if (size < 1024) chunks.push(chunk);
            size += chunk.length;
          });
          response.on('end', () =>
            done({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, 1024) }),
          );
          response.on('error', (err) => done({ body: Buffer.from(err.message), error: err.message }));
        },
      );
      request.on('timeout', () => request.destroy(new Error(`no response within ${timeoutMs} ms`)));
      request.on('error', (err) => done({ body: Buffer.from(err.message), error: err.message }));
      request.end(message.body);
    });
  }

  /** Tries until success, a non-retryable answer, or retries run out. `beat` keeps the consumer alive. */
  async deliver(
    message: HttpMessage,
    policy: RetryPolicy,
    beat: () => Promise<void>,
    stopping: () => boolean,
  ): Promise<DeliveryOutcome> {
    for (let attempt = 0; ; attempt++) {
      const result = await this.post(message, policy.timeoutMs);
      if (result.status !== undefined && result.status >= 200 && result.status < 300) {
        return { ...result, ok: true, attempts: attempt + 1 };
      }
      if (!isRetryable(result) || attempt >= policy.retries || stopping()) {
        return { ...result, ok: false, attempts: attempt + 1 };
      }
      await sleepWithHeartbeat(backoffMs(policy, attempt), beat);
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

async function sleepWithHeartbeat(ms: number, beat: () => Promise<void>): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, Math.min(1000, until - Date.now())));
    await beat().catch(() => {});
  }
}
