/**
 * The deterministic "model" of the local service. It never calls anything: the reply is a pure
 * function of the body (plus the request id and clock, which `seed` and `now` pin down).
 *
 * - Content: `"echo: " + text` of the LAST user message (string content, or its text parts
 *   joined with "\n"). No user message: `"echo: "`.
 * - `reasoning_content`: `"reasoning: " + text`, present when `thinking.type` is "enabled" or a
 *   user message contains `[[reasoning]]`.
 * - Limits: `max_completion_tokens` caps reasoning + content (reasoning first), `max_tokens` caps
 *   the content only, as on Ark. A reply over its cap is cut at a code-point boundary to fit
 *   the estimator and gets `finish_reason: "length"`; otherwise "stop".
 * - `usage` comes from `lib/requests/tokens.ts`: prompt = estimateBodyTokens(body), completion =
 *   reasoning + content tokens; `cached_tokens` is always 0 (as in every Ark batch example).
 * - Failures on demand: a user message containing `[[fail:CODE]]` gets that Ark error (status and
 *   type from `ark-errors.ts`; unknown codes are 400 BadRequest; 429s carry Retry-After).
 *   `[[fail:CODE:N]]` fails only the first N times this exact body reaches this responder, to
 *   test retries; the count is kept per body, for at most `maxTrackedBodies` bodies.
 * - Bodies that break the data-plane rules (`checkChatBody`, model not required) get the same
 *   400 the endpoint would send.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArkBatchError } from '../errors.ts';
import { estimateBodyTokens, estimateTokens } from '../requests/tokens.ts';
import { arkErrorReply, arkErrorSpec, chatBodyProblemReply, checkChatBody } from './ark-errors.ts';
import { createRequestIdGenerator, type RequestIdGenerator } from './ids.ts';
import type { ChatReply, ChatResponder } from './responder-types.ts';

export interface EchoResponderOptions {
  /** Seeds the request-id sequence. @default random */
  readonly seed?: number;
  /** Delay before each reply, in ms; aborted with the request. @default 0 */
  readonly latencyMs?: number;
  /** Clock in epoch ms, for `created` and the ids. @default Date.now */
  readonly now?: () => number;
  /** Request ids; overrides `seed`/`now` for ids. @default createRequestIdGenerator({seed, now}) */
  readonly ids?: RequestIdGenerator;
  /** The `model` of every reply. @default 'local-echo' */
  readonly model?: string;
  /** Retry-After seconds sent with 429 failures. @default 1 */
  readonly retryAfterSeconds?: number;
  /** Bodies whose `[[fail:CODE:N]]` attempts are counted; one more fails loudly. @default 100000 */
  readonly maxTrackedBodies?: number;
}

export const ECHO_MODEL = 'local-echo';

export function createEchoResponder(options: EchoResponderOptions = {}): ChatResponder {
  const now = options.now ?? Date.now;
  const ids = options.ids ?? createRequestIdGenerator({ seed: options.seed, now });
  const model = options.model ?? ECHO_MODEL;
  const latencyMs = options.latencyMs ?? 0;
  const retryAfter = options.retryAfterSeconds ?? 1;
  const maxTracked = options.maxTrackedBodies ?? 100_000;
  const attempts = new Map<string, number>();

  return async (body, signal) => {
    if (latencyMs > 0) await sleep(latencyMs, undefined, { signal });
    signal?.throwIfAborted();
    const requestId = ids();
    const problem = checkChatBody(body, { requireModel: false });
    if (problem) return chatBodyProblemReply(problem, requestId);

    const userTexts = userMessageTexts(body.messages as readonly Record<string, unknown>[]);
    const fail = findFailMarker(userTexts);
    if (fail && shouldFail(fail, body)) {
      const status = arkErrorSpec(fail.code).status;
      return arkErrorReply(fail.code, requestId, status === 429 ? { retryAfter } : {});
    }
    return echoReply(body, userTexts, { requestId, model, created: Math.floor(now() / 1000) });
  };

  function shouldFail(fail: FailMarker, body: Record<string, unknown>): boolean {
    if (fail.times === undefined) return true;
    const key = createHash('sha1').update(JSON.stringify(body)).digest('base64');
    const seen = attempts.get(key) ?? 0;
    if (seen === 0 && attempts.size >= maxTracked) {
      throw new ArkBatchError('E_BUFFER_LIMIT', `Echo model: more than maxTrackedBodies=${maxTracked} bodies with [[fail:CODE:N]] markers`);
    }
    attempts.set(key, seen + 1);
    return seen < fail.times;
  }
}

interface FailMarker {
  readonly code: string;
  readonly times?: number;
}

/** The first well-formed `[[fail:CODE]]` or `[[fail:CODE:N]]` in the texts. */
export function findFailMarker(texts: readonly string[]): FailMarker | undefined {
  for (const text of texts) {
    let at = text.indexOf('[[fail:');
    while (at !== -1) {
      const end = text.indexOf(']]', at + 7);
      if (end === -1) break;
      const m = /^([A-Za-z0-9._-]+)(?::(\d{1,6}))?$/.exec(text.slice(at + 7, end));
      if (m) return m[2] === undefined ? { code: m[1] } : { code: m[1], times: Number(m[2]) };
      at = text.indexOf('[[fail:', at + 7);
    }
  }
  return undefined;
}

function userMessageTexts(messages: readonly Record<string, unknown>[]): string[] {
  const texts: string[] = [];
  for (const m of messages) if (m.role === 'user') texts.push(contentText(m.content));
  return texts;
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts: string[] = [];
  for (const part of content) {
    if (typeof part === 'object' && part !== null && part.type === 'text' && typeof part.text === 'string') parts.push(part.text);
  }
  return parts.join('\n');
}

function echoReply(
  body: Record<string, unknown>,
  userTexts: readonly string[],
  meta: { requestId: string; model: string; created: number },
): ChatReply {
  const text = userTexts.length ? userTexts[userTexts.length - 1] : '';
  const thinking = body.thinking as { type?: unknown } | undefined;
  const wantsReasoning = thinking?.type === 'enabled' || userTexts.some((t) => t.includes('[[reasoning]]'));
  let reasoning = wantsReasoning ? `reasoning: ${text}` : undefined;
  let content = `echo: ${text}`;
  let truncated = false;

  const fit = (s: string, limit: number): string => {
    const cut = truncateToTokens(s, limit);
    if (cut !== s) truncated = true;
    return cut;
  };
  if (typeof body.max_completion_tokens === 'number') {
    let budget = body.max_completion_tokens;
    if (reasoning !== undefined) {
      reasoning = fit(reasoning, budget);
      budget -= estimateTokens(reasoning);
    }
    content = fit(content, budget);
  } else if (typeof body.max_tokens === 'number') {
    content = fit(content, body.max_tokens);
  }

  const reasoningTokens = reasoning === undefined ? 0 : estimateTokens(reasoning);
  const promptTokens = estimateBodyTokens(body);
  const completionTokens = estimateTokens(content) + reasoningTokens;
  const message: Record<string, unknown> = { role: 'assistant', content };
  if (reasoning !== undefined) message.reasoning_content = reasoning;
  return {
    status: 200,
    requestId: meta.requestId,
    body: {
      id: meta.requestId,
      object: 'chat.completion',
      created: meta.created,
      model: meta.model,
      service_tier: 'default',
      choices: [{ index: 0, message, finish_reason: truncated ? 'length' : 'stop', logprobs: null }],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: reasoningTokens },
      },
    },
  };
}

/** The longest code-point prefix of `text` whose estimate is within `limit` (the estimate is monotonic in prefixes). */
export function truncateToTokens(text: string, limit: number): string {
  if (estimateTokens(text) <= limit) return text;
  const points = Array.from(text);
  let lo = 0;
  let hi = points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (estimateTokens(points.slice(0, mid).join('')) <= limit) lo = mid;
    else hi = mid - 1;
  }
  return points.slice(0, lo).join('');
}
