/**
 * The official SDKs' batch retry loop (ark.md §5), for one request:
 * - retry connection errors and HTTP 408, 409, 429 and 5xx; other answers are final;
 * - exponential backoff with jitter between attempts (p-retry: 0.5 s, 1 s, 2 s … capped at 8 s,
 *   each randomised ×1–2);
 * - a `Retry-After` on an error answer holds every request to that model until it has passed
 *   (the per-model breaker, shared by all workers);
 * - all of it inside one deadline per request (`timeoutMs`, 24 h by default as Ark advises);
 *   each attempt gets what is left of it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry, { AbortError } from 'p-retry';
import type { ChatAttempt, ChatSender } from './sender.ts';

/** 24 h: Ark's guide asks for 24–72 h client timeouts on Batch Chat. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 24 * 60 * 60 * 1000;

export interface RetryPolicy {
  /** Deadline of one request, all attempts and waits included, in ms. @default 86400000 (24 h) */
  readonly timeoutMs?: number;
  /** First backoff delay, in ms. @default 500 */
  readonly minDelayMs?: number;
  /** Largest backoff delay, in ms. @default 8000 */
  readonly maxDelayMs?: number;
  /** Longest `Retry-After` honoured, in ms; a longer one is cut to this. @default 600000 (10 min) */
  readonly maxRetryAfterMs?: number;
}

export type ChatOutcome = ChatAttempt & { readonly attempts: number };

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

function retryable(a: ChatAttempt): boolean {
  return a.kind === 'network' || (a.kind === 'answer' && isRetryableStatus(a.status));
}

/**
 * Per-model pause from `Retry-After`. `hold` only ever moves the pause later, so overlapping
 * 429s do not shorten each other; `wait` re-reads it after sleeping because another worker may
 * have extended it meanwhile.
 */
export interface RetryAfterBreaker {
  hold(model: string, ms: number): void;
  /** Resolves when `model` is not held, or false once `deadline` (epoch ms) comes first. */
  wait(model: string, deadline: number, signal?: AbortSignal): Promise<boolean>;
  /** Epoch ms until which `model` is held (0 when it is not). */
  until(model: string): number;
}

export function createRetryAfterBreaker(now: () => number = Date.now): RetryAfterBreaker {
  const held = new Map<string, number>();
  return {
    hold(model, ms) {
      if (!(ms > 0)) return;
      const until = now() + ms;
      if (until > (held.get(model) ?? 0)) held.set(model, until);
    },
    async wait(model, deadline, signal) {
      for (;;) {
        const until = held.get(model) ?? 0;
        const t = now();
        if (until <= t) {
          held.delete(model);
          return true;
        }
        if (until >= deadline) return false;
        await sleep(until - t, undefined, { signal });
      }
    },
    until: (model) => held.get(model) ?? 0,
  };
}

class RetryableAttempt extends Error {}
class DeadlinePassed extends Error {}

export interface CallOptions extends RetryPolicy {
  /** The breaker key (the `model` of the body). */
  readonly model: string;
  readonly breaker: RetryAfterBreaker;
  readonly signal?: AbortSignal;
  /** Called after each attempt, for progress and tests. */
  readonly onAttempt?: (attempt: ChatAttempt) => void;
}

/**
 * Sends `body` until an answer is final or the deadline passes, and returns the last attempt:
 * a final answer (any status), or the last retryable one when time ran out. Rejects only with
 * `signal.reason` when aborted.
 */
export async function sendWithRetry(send: ChatSender, body: Record<string, unknown>, options: CallOptions): Promise<ChatOutcome> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 600_000;
  const deadline = Date.now() + timeoutMs;
  const { breaker, model, signal } = options;
  let last: ChatAttempt = { kind: 'timeout' };
  let attempts = 0;
  try {
    await pRetry(
      async () => {
        if (!(await breaker.wait(model, deadline, signal))) throw new AbortError(new DeadlinePassed());
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new AbortError(new DeadlinePassed());
        attempts++;
        last = await send(body, { timeoutMs: remaining, signal });
        options.onAttempt?.(last);
        if (last.kind === 'answer' && last.status >= 400 && last.retryAfter !== undefined) {
          breaker.hold(model, Math.min(last.retryAfter * 1000, maxRetryAfterMs));
        }
        if (retryable(last)) throw new RetryableAttempt();
      },
      {
        forever: true,
        minTimeout: options.minDelayMs ?? 500,
        maxTimeout: options.maxDelayMs ?? 8000,
        factor: 2,
        randomize: true,
        signal,
        shouldRetry: () => Date.now() < deadline,
      },
    );
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (!(err instanceof RetryableAttempt || err instanceof DeadlinePassed)) throw err;
  }
  return { ...last, attempts };
}
