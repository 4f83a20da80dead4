/**
 * Ark's results/errors line shapes (ark.md §4.2/§4.3) for what `sendWithRetry` ended with, so
 * `exec` writes exactly what a batch job would and `join`/`retry` read both the same way.
 * Answers go through the job runner's `outputLine`; only failures without an answer (no
 * connection, deadline passed, unreadable body) are shaped here, with `response: null`.
 */
import { randomBytes } from 'node:crypto';
import { outputLine } from '../local/job-lines.ts';
import type { ChatOutcome } from './retry.ts';

export interface OutcomeLine {
  /** True for a 200 answer (the line goes to RESULTS), false otherwise (ERRORS). */
  readonly ok: boolean;
  readonly line: Record<string, unknown>;
  /** total_tokens of a 200 answer's usage, 0 otherwise. */
  readonly tokens: number;
}

/** An id for failures that never got one from the service; unique, recognisable as client-made. */
export function clientRequestId(): string {
  return `exec-${Date.now().toString(36)}-${randomBytes(8).toString('hex')}`;
}

export function outcomeLine(customId: string, outcome: ChatOutcome): OutcomeLine {
  if (outcome.kind === 'answer' && outcome.body !== undefined) {
    const { ok, out } = outputLine(customId, { status: outcome.status, body: outcome.body, requestId: outcome.requestId ?? clientRequestId() });
    return { ok, line: out, tokens: ok ? totalTokens(outcome.body) : 0 };
  }
  const error =
    outcome.kind === 'answer'
      ? { code: 'InvalidResponse', type: 'BadGateway', message: outcome.tooLarge ? `HTTP ${outcome.status} answer exceeds the response size limit` : `HTTP ${outcome.status} answer is not a JSON object` }
      : outcome.kind === 'network'
        ? { code: 'ConnectionError', type: 'APIConnectionError', message: `connection failed after ${outcome.attempts} attempt(s): ${outcome.reason}` }
        : { code: 'RequestTimeout', type: 'APITimeoutError', message: `no final answer before the request deadline (${outcome.attempts} attempt(s))` };
  const id = outcome.kind === 'answer' ? outcome.requestId ?? clientRequestId() : clientRequestId();
  const response = outcome.kind === 'answer' ? { request_id: id, status_code: outcome.status, body: null } : null;
  return { ok: false, line: { id, custom_id: customId, response, error }, tokens: 0 };
}

function totalTokens(body: Record<string, unknown>): number {
  const u = body.usage as Record<string, unknown> | undefined;
  const t = u?.total_tokens;
  return typeof t === 'number' && Number.isFinite(t) ? t : 0;
}
