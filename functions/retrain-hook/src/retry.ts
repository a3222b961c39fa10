/** An error worth retrying: the dependency is down or overloaded, not the request wrong. */
export class UnavailableError extends Error {
  constructor(
    readonly dependency: 'mlflow' | 'kubernetes' | 'prometheus' | 'airflow',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UnavailableError';
  }
}

export interface RetryPolicy {
  /** Total attempts; Infinity retries until `signal` aborts. */
  attempts: number;
  baseMs: number;
  maxMs: number;
  signal?: AbortSignal;
  onRetry?: (error: UnavailableError, attempt: number, delayMs: number) => void;
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Runs `fn`, retrying UnavailableErrors with exponential backoff and full jitter.
 * Any other error is a real answer (bad request, conflict) and is thrown at once.
 */
export async function withRetry<T>(fn: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof UnavailableError) || attempt >= policy.attempts) throw error;
      const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
      const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
      policy.onRetry?.(error, attempt, delay);
      await sleep(delay, policy.signal);
    }
  }
}

/**
 * The onRetry of a wait that may last long (MLflow down): counts every failure, logs the first and every
 * tenth, so a long outage is visible without flooding the log.
 */
export function countAndLogRetries(
  errors: { inc(labels: { dependency: UnavailableError['dependency'] }): void },
  log: { warn(details: object, message: string): void },
  message: string,
): NonNullable<RetryPolicy['onRetry']> {
  return (error, attempt, delay) => {
    errors.inc({ dependency: error.dependency });
    if (attempt === 1 || attempt % 10 === 0) log.warn({ err: error.message, attempt, delay }, message);
  };
}
