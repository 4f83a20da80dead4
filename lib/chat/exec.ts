/**
 * `exec`: runs a batch JSONL file against Batch Chat (or any OpenAI-compatible endpoint) and
 * writes the same RESULTS/ERRORS lines a batch job would.
 *
 * Lines are read as a stream and started while fewer than `concurrency` are in flight, so memory
 * holds at most `concurrency` bodies plus the output buffers. Each request runs the SDK retry
 * loop (`retry.ts`). A finished line is appended to RESULTS (200) or ERRORS (anything else) as
 * soon as it is known. Resuming: custom_ids already in RESULTS and ERRORS (only RESULTS with
 * `retryErrors`, which starts ERRORS afresh) are skipped, after cutting off a torn last line.
 */
import { pipeline } from 'node:stream';
import { ArkBatchError } from '../errors.ts';
import { splitLines, type Line } from '../jsonl/lines.ts';
import { estimateBodyTokens } from '../requests/tokens.ts';
import { openAppendWriter, type AppendWriter } from './append-writer.ts';
import { parseExecLine, rejectLine } from './batch-line.ts';
import { clientRequestId, outcomeLine } from './output.ts';
import { createRateLimiter } from './rate-limit.ts';
import { loadFinished } from './resume.ts';
import type { ExecOptions, ExecStats, ExecSummary } from './exec-types.ts';
import { createRetryAfterBreaker, sendWithRetry } from './retry.ts';
import { createChatSender } from './sender.ts';

export type { ExecOptions, ExecStats, ExecSummary } from './exec-types.ts';

export async function execBatch(options: ExecOptions): Promise<ExecSummary> {
  const concurrency = positiveInt(options.concurrency ?? 256, 'concurrency');
  const maxRejects = nonNegativeInt(options.maxRejects ?? 0, 'maxRejects');
  const maxTrackedIds = options.maxTrackedIds ?? 20_000_000;
  if (!options.model) throw new ArkBatchError('E_USAGE', 'Expected a model (the batch endpoint id ep-bi-…), got an empty value');
  if (!options.sender && (!options.baseUrl || options.apiKey === undefined)) throw new ArkBatchError('E_USAGE', 'Expected baseUrl and apiKey (or a sender)');
  const file = options.inputName ?? '-';
  const limiter = createRateLimiter({ rpm: options.rpm, tpm: options.tpm });
  const breaker = options.breaker ?? createRetryAfterBreaker();
  const own = new AbortController();
  const { signal: outer } = options;
  const abort = () => own.abort(outer?.reason);
  const signal = own.signal;
  // Each request gets its own signal, aborted from here: hundreds of listeners on one shared
  // EventTarget make every addEventListener a linear scan (a hot spot at concurrency ≥ 256).
  const live = new Set<AbortController>();
  signal.addEventListener('abort', () => {
    for (const c of live) c.abort(signal.reason);
  }, { once: true });

  /** Finished by earlier runs. */
  const done = new Set<string>();
  /** Started (or refused with an errors line) in this run. */
  const seen = new Set<string>();
  await loadFinished(options, done, maxTrackedIds);

  if (outer?.aborted) abort();
  outer?.addEventListener('abort', abort, { once: true });
  const sender = options.sender ?? createChatSender({ baseUrl: options.baseUrl!, apiKey: options.apiKey!, path: options.path ?? '/batch/chat/completions', connections: concurrency });
  const writers: AppendWriter[] = [];
  const started = Date.now();
  const stats: ExecStats = { lines: 0, skipped: 0, succeeded: 0, failed: 0, rejected: 0, inFlight: 0, attempts: 0, tokens: 0, elapsedMs: 0 };
  const report = () => {
    stats.elapsedMs = Date.now() - started;
    options.onProgress?.(stats);
  };
  const ticker = options.onProgress ? setInterval(report, options.progressIntervalMs ?? 1000) : undefined;
  ticker?.unref();

  let failure: unknown;
  // Slots: a waiter parks here while `concurrency` requests are in flight.
  let wake: (() => void) | undefined;
  let idle: (() => void) | undefined;
  try {
    const results = await openAppendWriter(options.resultsPath, { flushIntervalMs: options.flushIntervalMs });
    writers.push(results);
    const errors = await openAppendWriter(options.errorsPath, { flushIntervalMs: options.flushIntervalMs });
    writers.push(errors);

    const reject = async (err: ArkBatchError) => {
      stats.rejected++;
      options.onReject?.(err);
      if (err.customId !== undefined && !done.has(err.customId) && !seen.has(err.customId)) {
        seen.add(err.customId);
        await errors.write(JSON.stringify(rejectLine(err, clientRequestId())));
      }
      if (stats.rejected > maxRejects) {
        failure ??= new ArkBatchError('E_TOO_MANY_REJECTS', `more than maxRejects=${maxRejects} refused lines; stopped reading`, { file, line: err.line, cause: err });
      }
    };

    const run = async (customId: string, body: Record<string, unknown>, cost: number) => {
      const request = new AbortController();
      live.add(request);
      try {
        const outcome = await sendWithRetry(sender, body, {
          model: options.model,
          breaker,
          signal: request.signal,
          timeoutMs: options.timeoutMs,
          minDelayMs: options.minDelayMs,
          maxDelayMs: options.maxDelayMs,
          maxRetryAfterMs: options.maxRetryAfterMs,
          onAttempt: () => void stats.attempts++,
        });
        const out = outcomeLine(customId, outcome);
        limiter?.settle(cost, out.ok ? out.tokens : 0);
        await (out.ok ? results : errors).write(JSON.stringify(out.line));
        if (out.ok) {
          stats.succeeded++;
          stats.tokens += out.tokens;
        } else stats.failed++;
      } catch (err) {
        // Aborted requests are simply unfinished: they run again on the next run.
        if (!signal?.aborted) failure ??= err;
      } finally {
        live.delete(request);
        stats.inFlight--;
        wake?.();
        if (stats.inFlight === 0) idle?.();
      }
    };

    const split = splitLines<Line>({ file, maxLineBytes: options.maxLineBytes }, (l) => l);
    pipeline(options.input, split, () => undefined);
    for await (const l of split as AsyncIterable<Line>) {
      if (failure !== undefined || signal?.aborted) break;
      const parsed = parseExecLine(l, file);
      if (parsed === null) continue;
      stats.lines++;
      if (parsed instanceof ArkBatchError) {
        // Refused in an earlier run and recorded in ERRORS then: done, like any other outcome.
        if (parsed.customId !== undefined && done.has(parsed.customId)) stats.skipped++;
        else await reject(parsed);
        continue;
      }
      if (done.has(parsed.customId)) {
        stats.skipped++;
        continue;
      }
      if (seen.has(parsed.customId)) {
        await reject(new ArkBatchError('E_ID_DUPLICATE', 'custom_id already appeared earlier in this file', { file, line: l.line, customId: parsed.customId }));
        continue;
      }
      seen.add(parsed.customId);
      if (done.size + seen.size > maxTrackedIds) throw new ArkBatchError('E_BUFFER_LIMIT', `more than maxTrackedIds=${maxTrackedIds} custom_ids`, { file, line: l.line });
      while (stats.inFlight >= concurrency) await new Promise<void>((r) => (wake = r));
      if (failure !== undefined || signal?.aborted) break;
      const body = { ...parsed.body, model: options.model };
      const cost = limiter ? estimateCost(body) : 0;
      if (limiter) await limiter.acquire(cost, signal);
      stats.inFlight++;
      void run(parsed.customId, body, cost);
    }
    split.destroy();
  } catch (err) {
    if (!signal?.aborted) failure ??= err;
  } finally {
    if (stats.inFlight > 0) await new Promise<void>((r) => (idle = r));
    if (ticker) clearInterval(ticker);
    for (const w of writers) {
      try {
        await w.close();
      } catch (err) {
        failure ??= err;
      }
    }
    if (!options.sender) await sender.close();
    outer?.removeEventListener('abort', abort);
    report();
  }
  if (signal?.aborted) throw new ArkBatchError('E_ABORTED', 'exec was interrupted; rerun the same command to finish', { cause: signal.reason });
  if (failure !== undefined) throw failure;
  return { ...stats, resultsPath: options.resultsPath, errorsPath: options.errorsPath };
}

/** Tokens a request may use: its input estimate plus the output it allows. */
function estimateCost(body: Record<string, unknown>): number {
  const out = body.max_completion_tokens ?? body.max_tokens;
  return estimateBodyTokens(body) + (typeof out === 'number' && out > 0 ? out : 0);
}

function positiveInt(v: number, name: string): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new ArkBatchError('E_USAGE', `Expected ${name} to be a positive integer, got ${String(v)} (${typeof v})`);
  return v;
}

function nonNegativeInt(v: number, name: string): number {
  if (v === Infinity) return v;
  if (!Number.isSafeInteger(v) || v < 0) throw new ArkBatchError('E_USAGE', `Expected ${name} to be a non-negative integer, got ${String(v)} (${typeof v})`);
  return v;
}
