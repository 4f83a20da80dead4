/** Options and counters of `execBatch` (lib/chat/exec.ts). */
import type { Readable } from 'node:stream';
import type { ArkBatchError } from '../errors.ts';
import type { RetryAfterBreaker, RetryPolicy } from './retry.ts';
import type { ChatSender } from './sender.ts';

export interface ExecOptions extends RetryPolicy {
  /** Batch lines as bytes (a file stream, stdin). */
  readonly input: Readable;
  /** Name put on line errors. @default '-' */
  readonly inputName?: string;
  /** Set as `model` of every body: the batch endpoint id `ep-bi-…` for Ark. */
  readonly model: string;
  /** RESULTS path (200 answers). */
  readonly resultsPath: string;
  /** ERRORS path (every other outcome, and refused lines with a custom_id). */
  readonly errorsPath: string;
  /** Base URL such as `https://ark.cn-beijing.volces.com/api/v3`; not needed with `sender`. */
  readonly baseUrl?: string;
  readonly apiKey?: string;
  /** Appended to baseUrl. @default '/batch/chat/completions' */
  readonly path?: string;
  /** A ready sender (tests, a shared Agent); not closed at the end. @default one built from baseUrl/apiKey */
  readonly sender?: ChatSender;
  /** Requests in flight at most. @default 256 */
  readonly concurrency?: number;
  /** Refused lines tolerated (Infinity: all); one more stops reading (in-flight requests still finish). @default 0 */
  readonly maxRejects?: number;
  /** Resend lines whose custom_id is only in ERRORS. @default false */
  readonly retryErrors?: boolean;
  /** Client-side limits per minute. @default none */
  readonly rpm?: number;
  readonly tpm?: number;
  /** @default 1000 */
  readonly flushIntervalMs?: number;
  /** Longest input line, in bytes. @default 134217728 (128 MiB) */
  readonly maxLineBytes?: number;
  /** Most custom_ids remembered (finished before plus started now). @default 20000000 */
  readonly maxTrackedIds?: number;
  /** Called for each refused line (bad JSON, no custom_id, stream:true, duplicate id …). */
  readonly onReject?: (err: ArkBatchError) => void;
  /** Called with the counters every `progressIntervalMs` and once at the end. */
  readonly onProgress?: (stats: Readonly<ExecStats>) => void;
  /** @default 1000 */
  readonly progressIntervalMs?: number;
  /** Shared per-model Retry-After breaker. @default a new one */
  readonly breaker?: RetryAfterBreaker;
  readonly signal?: AbortSignal;
}

export interface ExecStats {
  /** Non-blank input lines seen. */
  lines: number;
  /** Lines skipped because a previous run finished their custom_id. */
  skipped: number;
  /** Lines answered 200 (in RESULTS). */
  succeeded: number;
  /** Lines that ended in ERRORS after sending. */
  failed: number;
  /** Lines refused before sending. */
  rejected: number;
  inFlight: number;
  /** HTTP attempts made (retries included). */
  attempts: number;
  /** total_tokens summed over 200 answers. */
  tokens: number;
  elapsedMs: number;
}

export interface ExecSummary extends ExecStats {
  readonly resultsPath: string;
  readonly errorsPath: string;
}
