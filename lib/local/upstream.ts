/**
 * A `ChatResponder` that forwards each body to a real OpenAI-compatible endpoint
 * (`POST {baseUrl}/chat/completions`, e.g. Ark's `https://ark.cn-beijing.volces.com/api/v3`) over
 * one keep-alive undici Agent, and hands back the upstream's status, JSON body, `x-request-id`
 * and `Retry-After` unchanged. Only what the upstream could not say itself is made up here:
 * no connection → 502 UpstreamUnavailable, no answer within `timeoutMs` → 504 UpstreamTimeout,
 * an answer that is not a JSON object → UpstreamBadResponse (502, or the upstream's own
 * error status). Those carry a local request id. The API key never appears in a reply.
 * The HTTP attempt and (with `retry`) the retry loop are `exec`'s own (`lib/chat/`): serve's
 * --upstream runs jobs through the same executor code as `ark-batch exec`.
 */
import type { Dispatcher } from 'undici';
import { createRetryAfterBreaker, sendWithRetry, type RetryAfterBreaker, type RetryPolicy } from '../chat/retry.ts';
import { createChatSender, DEFAULT_MAX_RESPONSE_BYTES, type ChatAttempt } from '../chat/sender.ts';
import { arkErrorReply } from './ark-errors.ts';
import { createRequestIdGenerator, type RequestIdGenerator } from './ids.ts';
import type { ChatReply, ChatResponder } from './responder-types.ts';

export { parseRetryAfter } from '../chat/sender.ts';

export interface UpstreamResponderOptions {
  /** Base URL of the OpenAI-compatible API, without the `/chat/completions` path. */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  readonly apiKey: string;
  /** Whole-request deadline (connect + answer + body; with `retry`, all attempts), in ms. */
  readonly timeoutMs: number;
  /** Path appended to `baseUrl`. @default '/chat/completions' */
  readonly path?: string;
  /** Replaces `model` in every forwarded body (Batch Job lines carry none). @default the body's own */
  readonly model?: string;
  /** Largest upstream answer read; a bigger one becomes a 502. @default 67108864 (64 MiB) */
  readonly maxResponseBytes?: number;
  /** Dispatcher to use instead of an own keep-alive Agent (tests, proxies); not closed by `close()`. */
  readonly dispatcher?: Dispatcher;
  /** Connections of the own Agent per origin. @default 256 */
  readonly connections?: number;
  /** Ids for the replies made up locally. @default createRequestIdGenerator() */
  readonly ids?: RequestIdGenerator;
  /**
   * Run each request through `exec`'s SDK retry loop (408/409/429/5xx and connection errors,
   * backoff, Retry-After breaker) until `timeoutMs`, as a batch job would; the reply is the final
   * outcome. Off for the chat endpoint, whose callers retry themselves. @default off
   */
  readonly retry?: boolean | (Omit<RetryPolicy, 'timeoutMs'> & { readonly breaker?: RetryAfterBreaker });
}

export interface UpstreamResponder extends ChatResponder {
  /** Closes the own Agent (keep-alive sockets). */
  close(): Promise<void>;
}

export function createUpstreamResponder(options: UpstreamResponderOptions): UpstreamResponder {
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) throw new RangeError(`Expected timeoutMs > 0, got ${options.timeoutMs}`);
  const send = createChatSender({
    baseUrl: options.baseUrl,
    apiKey: options.apiKey,
    path: options.path ?? '/chat/completions',
    maxResponseBytes: options.maxResponseBytes,
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    connections: options.connections,
  });
  const ids = options.ids ?? createRequestIdGenerator();
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const retry = options.retry === true ? {} : options.retry || undefined;
  const breaker = retry?.breaker ?? createRetryAfterBreaker();

  const attempt = async (body: Record<string, unknown>, signal?: AbortSignal): Promise<ChatAttempt> => {
    if (!retry) return send(body, { timeoutMs: options.timeoutMs, signal });
    return sendWithRetry(send, body, { ...retry, timeoutMs: options.timeoutMs, breaker, model: String(body.model ?? ''), signal });
  };

  const respond = async (body: Record<string, unknown>, signal?: AbortSignal): Promise<ChatReply> => {
    const forwarded = options.model === undefined ? body : { ...body, model: options.model };
    const a = await attempt(forwarded, signal);
    if (a.kind === 'timeout') return arkErrorReply('UpstreamTimeout', ids(), { message: `The upstream did not answer within ${options.timeoutMs} ms.` });
    if (a.kind === 'network') return arkErrorReply('UpstreamUnavailable', ids(), { message: `The upstream could not be reached (${a.reason}).` });
    const requestId = a.requestId ?? ids();
    const extra = a.retryAfter === undefined ? {} : { retryAfter: a.retryAfter };
    if (a.tooLarge) return arkErrorReply('UpstreamBadResponse', requestId, { message: `The upstream answer exceeds ${maxBytes} bytes.`, ...extra });
    if (a.body === undefined) {
      const status = a.status >= 400 ? a.status : 502;
      return arkErrorReply('UpstreamBadResponse', requestId, { status, message: `The upstream answered ${a.status} with a body that is not a JSON object.`, ...extra });
    }
    return { status: a.status, body: a.body, requestId, ...extra };
  };
  return Object.assign(respond, { close: () => send.close() });
}
