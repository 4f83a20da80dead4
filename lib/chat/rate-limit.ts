/**
 * Client-side `--rpm` / `--tpm` limits as two token buckets refilled continuously. Each bucket
 * holds one second's worth (at least one request, or the request at hand for tokens), so the
 * rate stays smooth instead of bursting a whole minute's budget at once. Waiters are served in
 * order. Token costs are estimated before sending and corrected with the real `usage` after.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ArkBatchError } from '../errors.ts';

export interface RateLimitOptions {
  /** Requests started per minute at most. @default unlimited */
  readonly rpm?: number;
  /** Tokens (estimated, then actual) per minute at most. @default unlimited */
  readonly tpm?: number;
  /** Clock in ms. @default Date.now */
  readonly now?: () => number;
}

export interface RateLimiter {
  /** Resolves when a request costing `tokens` may start. */
  acquire(tokens: number, signal?: AbortSignal): Promise<void>;
  /** Corrects the token bucket once the real cost is known (may go into debt). */
  settle(estimated: number, actual: number): void;
}

interface Bucket {
  readonly perMs: number;
  readonly capacity: number;
  level: number;
}

export function createRateLimiter(options: RateLimitOptions): RateLimiter | undefined {
  const now = options.now ?? Date.now;
  const check = (v: number | undefined, name: string) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new ArkBatchError('E_USAGE', `Expected ${name} to be a positive number, got ${String(v)} (${typeof v})`);
  };
  check(options.rpm, 'rpm');
  check(options.tpm, 'tpm');
  if (options.rpm === undefined && options.tpm === undefined) return undefined;
  const bucket = (perMinute: number | undefined): Bucket | undefined =>
    perMinute === undefined ? undefined : { perMs: perMinute / 60_000, capacity: Math.max(1, perMinute / 60), level: Math.max(1, perMinute / 60) };
  const requests = bucket(options.rpm);
  const tokens = bucket(options.tpm);
  let last = now();
  const refill = () => {
    const t = now();
    const dt = t - last;
    last = t;
    for (const b of [requests, tokens]) if (b) b.level = Math.min(b.capacity, b.level + dt * b.perMs);
  };
  let queue: Promise<void> = Promise.resolve();

  const take = async (cost: number, signal?: AbortSignal) => {
    for (;;) {
      refill();
      // A request bigger than a bucket waits for a full bucket rather than forever.
      const needTokens = tokens ? Math.min(cost, tokens.capacity) : 0;
      const waitReq = requests && requests.level < 1 ? (1 - requests.level) / requests.perMs : 0;
      const waitTok = tokens && tokens.level < needTokens ? (needTokens - tokens.level) / tokens.perMs : 0;
      const wait = Math.max(waitReq, waitTok);
      if (wait <= 0) {
        if (requests) requests.level -= 1;
        if (tokens) tokens.level -= cost;
        return;
      }
      await sleep(Math.ceil(wait), undefined, { signal });
    }
  };

  return {
    acquire(cost, signal) {
      const turn = queue.then(() => take(cost, signal));
      // One aborted waiter must not poison the queue for the others.
      queue = turn.catch(() => undefined);
      return turn;
    },
    settle(estimated, actual) {
      if (tokens) tokens.level = Math.min(tokens.capacity, tokens.level + estimated - actual);
    },
  };
}
