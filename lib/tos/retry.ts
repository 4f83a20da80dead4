import pRetry from 'p-retry';
import { isRetryableTosError } from './client.ts';

export interface RetryOptions {
  /** Extra attempts after the first. @default 5 */
  readonly retries?: number;
  /** First backoff; doubles each attempt, with full jitter. @default 200 */
  readonly retryMinTimeoutMs?: number;
  /** @default 10000 */
  readonly retryMaxTimeoutMs?: number;
}

/**
 * One TOS call with exponential backoff and jitter on 5xx/429/408/resets/timeouts. Anything
 * else (403, 404, our own integrity errors) fails on the first attempt. The signal stops
 * further attempts once the transfer is being torn down.
 */
export function withRetry<T>(run: () => Promise<T>, options: RetryOptions, signal?: AbortSignal, onRetry?: (err: unknown) => void): Promise<T> {
  return pRetry(run, {
    retries: options.retries ?? 5,
    factor: 2,
    minTimeout: options.retryMinTimeoutMs ?? 200,
    maxTimeout: options.retryMaxTimeoutMs ?? 10_000,
    randomize: true,
    signal,
    shouldRetry: (err) => isRetryableTosError(err),
    onFailedAttempt: (err) => {
      if (err.retriesLeft > 0 && isRetryableTosError(err)) onRetry?.(err);
    },
  });
}
