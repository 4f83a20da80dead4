import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRetryAfterBreaker, isRetryableStatus, sendWithRetry } from '../lib/chat/retry.ts';
import type { ChatAttempt, ChatSender } from '../lib/chat/sender.ts';
import { createRateLimiter } from '../lib/chat/rate-limit.ts';
import { parseDuration } from '../lib/util/duration.ts';
import { ArkBatchError } from '../lib/errors.ts';

const answer = (status: number, retryAfter?: number): ChatAttempt => ({ kind: 'answer', status, body: { status }, requestId: `req-${status}`, retryAfter, tooLarge: false });

/** A sender that plays back `script` attempt by attempt and records the timeouts it was given. */
function scripted(script: ChatAttempt[]) {
  const timeouts: number[] = [];
  const send = (async (_body: Record<string, unknown>, o: { timeoutMs: number }) => {
    timeouts.push(o.timeoutMs);
    return script[Math.min(timeouts.length - 1, script.length - 1)];
  }) as ChatSender;
  return { send, timeouts };
}

const fast = { minDelayMs: 1, maxDelayMs: 2, model: 'ep-bi-1' };

test('connection errors, 408, 409, 429 and 5xx are retried until a final answer', async () => {
  const { send, timeouts } = scripted([{ kind: 'network', reason: 'ECONNRESET' }, answer(408), answer(409), answer(429), answer(500), answer(503), answer(200)]);
  const out = await sendWithRetry(send, {}, { ...fast, breaker: createRetryAfterBreaker() });
  assert.equal(out.kind, 'answer');
  assert.equal(out.kind === 'answer' && out.status, 200);
  assert.equal(out.attempts, 7);
  assert.equal(timeouts.length, 7);
});

test('other 4xx answers are final at once', async () => {
  for (const status of [400, 401, 403, 404, 422]) {
    const { send } = scripted([answer(status), answer(200)]);
    const out = await sendWithRetry(send, {}, { ...fast, breaker: createRetryAfterBreaker() });
    assert.equal(out.kind === 'answer' && out.status, status);
    assert.equal(out.attempts, 1);
  }
  assert.deepEqual([200, 399, 400, 404, 407, 408, 409, 410, 429, 500, 599].map(isRetryableStatus), [false, false, false, false, false, true, true, false, true, true, true]);
});

test('when the deadline passes the last retryable outcome is returned, and each attempt gets only what is left', async () => {
  const { send, timeouts } = scripted([answer(503)]);
  const out = await sendWithRetry(send, {}, { ...fast, timeoutMs: 60, breaker: createRetryAfterBreaker() });
  assert.equal(out.kind === 'answer' && out.status, 503);
  assert.ok(out.attempts >= 1);
  assert.ok(timeouts.every((t) => t <= 60));
  for (let i = 1; i < timeouts.length; i++) assert.ok(timeouts[i] <= timeouts[i - 1], 'remaining time only shrinks');
});

test('an attempt that times out is final (it already had the whole remaining deadline)', async () => {
  const { send } = scripted([{ kind: 'timeout' }, answer(200)]);
  const out = await sendWithRetry(send, {}, { ...fast, breaker: createRetryAfterBreaker() });
  assert.deepEqual(out, { kind: 'timeout', attempts: 1 });
});

test('Retry-After on an error holds the model in the breaker, capped by maxRetryAfterMs', async () => {
  const breaker = createRetryAfterBreaker();
  const { send } = scripted([answer(429, 3600), answer(200)]);
  const before = Date.now();
  const out = await sendWithRetry(send, {}, { ...fast, maxRetryAfterMs: 30, breaker });
  assert.equal(out.kind === 'answer' && out.status, 200);
  assert.ok(Date.now() - before >= 30, 'the retry waited for the breaker');
  assert.equal(breaker.until('ep-bi-1'), 0, 'released after the wait');
});

test('a breaker hold that outlasts the deadline ends the request instead of waiting', async () => {
  const breaker = createRetryAfterBreaker();
  breaker.hold('ep-bi-1', 60_000);
  const { send, timeouts } = scripted([answer(200)]);
  const out = await sendWithRetry(send, {}, { ...fast, timeoutMs: 100, breaker });
  assert.deepEqual(out, { kind: 'timeout', attempts: 0 });
  assert.equal(timeouts.length, 0);
  assert.equal(breaker.until('other-model'), 0, 'holds are per model');
});

test('hold only moves a pause later, never earlier', () => {
  let now = 1000;
  const breaker = createRetryAfterBreaker(() => now);
  breaker.hold('m', 500);
  breaker.hold('m', 100);
  assert.equal(breaker.until('m'), 1500);
  now = 1200;
  breaker.hold('m', 800);
  assert.equal(breaker.until('m'), 2000);
});

test('an abort rejects with the reason, also while backing off', async () => {
  const controller = new AbortController();
  const { send } = scripted([answer(503)]);
  const pending = sendWithRetry(send, {}, { model: 'm', minDelayMs: 10_000, maxDelayMs: 10_000, breaker: createRetryAfterBreaker(), signal: controller.signal });
  setImmediate(() => controller.abort(new Error('stop now')));
  await assert.rejects(pending, /stop now/);
});

test('the rate limiter lets a bucket of requests through, then waits for the clock', async () => {
  let now = 0;
  const limiter = createRateLimiter({ rpm: 600, now: () => now })!;
  for (let i = 0; i < 10; i++) await limiter.acquire(0);
  let released = false;
  const next = limiter.acquire(0).then(() => (released = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(released, false, 'an 11th request within the same second waits');
  now += 100;
  await next;
  assert.equal(released, true);
});

test('the token limit counts estimates and corrects them with real usage', async () => {
  let now = 0;
  const limiter = createRateLimiter({ tpm: 6000, now: () => now })!;
  await limiter.acquire(100);
  let released = false;
  const next = limiter.acquire(50).then(() => (released = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(released, false, 'the first estimate used the whole second');
  limiter.settle(100, 10);
  now += 1;
  await next;
  assert.equal(released, true, 'the refund let the next request go');
});

test('limits must be positive numbers; none means no limiter', () => {
  assert.equal(createRateLimiter({}), undefined);
  assert.throws(() => createRateLimiter({ rpm: 0 }), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_USAGE');
  assert.throws(() => createRateLimiter({ tpm: Number.NaN }), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_USAGE');
});

test('durations read as 24h, 30m, 90s, 500ms or bare seconds', () => {
  assert.deepEqual(['24h', '30m', '90s', '500ms', '1.5h', '2', '1d'].map((t) => parseDuration(t)), [86_400_000, 1_800_000, 90_000, 500, 5_400_000, 2000, 86_400_000]);
  for (const bad of ['', 'soon', '-1s', '0', '5 weeks']) assert.throws(() => parseDuration(bad, '--timeout'), /--timeout/);
});
