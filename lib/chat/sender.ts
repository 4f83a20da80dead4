/**
 * One HTTP attempt of a chat request: `POST {baseUrl}{path}` with the Bearer key over a
 * keep-alive undici Agent. It only reports what happened (an answer, a dead connection, a
 * timeout); deciding whether to retry is `retry.ts`'s job, and `lib/local/upstream.ts` uses the
 * same attempt to forward requests without retrying.
 */
import { createRequire } from 'node:module';
import type { Dispatcher } from 'undici';

// undici is loaded when the first client is made, not when this module is imported.
const requireCjs = createRequire(import.meta.url);
let undiciModule: typeof import('undici') | undefined;
const undici = () => (undiciModule ??= requireCjs('undici') as typeof import('undici'));
import { retryAfterMs } from '../util/retry-after.ts';

export interface ChatSenderOptions {
  /** Base URL of the OpenAI-compatible API, e.g. Ark's `…/api/v3`, without the path. */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; never put in errors. */
  readonly apiKey: string;
  /** Appended to `baseUrl`. @default '/chat/completions' */
  readonly path?: string;
  /** Largest answer read; a bigger one is reported as `tooLarge`. @default 67108864 (64 MiB) */
  readonly maxResponseBytes?: number;
  /** Dispatcher to use instead of an own keep-alive Agent; not closed by `close()`. */
  readonly dispatcher?: Dispatcher;
  /** Connections of the own Agent per origin. @default 256 */
  readonly connections?: number;
}

/** What one attempt produced. `body` is undefined when the answer is not a JSON object. */
export type ChatAttempt =
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly body: Record<string, unknown> | undefined;
      readonly requestId: string | undefined;
      /** Seconds from `Retry-After`. */
      readonly retryAfter: number | undefined;
      /** True when the answer was over maxResponseBytes (and `body` is undefined). */
      readonly tooLarge: boolean;
    }
  | { readonly kind: 'network'; readonly reason: string }
  | { readonly kind: 'timeout' };

export interface ChatSender {
  /**
   * Sends `body` once. Resolves with what happened; rejects only with `signal.reason` when the
   * caller aborts.
   */
  (body: Record<string, unknown>, options: { readonly timeoutMs: number; readonly signal?: AbortSignal }): Promise<ChatAttempt>;
  readonly url: URL;
  /** Closes the own Agent's keep-alive sockets. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export function createChatSender(options: ChatSenderOptions): ChatSender {
  const url = new URL(options.baseUrl.replace(/\/+$/, '') + (options.path ?? '/chat/completions'));
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`Expected an http(s) baseUrl, got ${url.protocol}`);
  const own = options.dispatcher ? undefined : new (undici().Agent)({ keepAliveTimeout: 30_000, connections: options.connections ?? 256 });
  const dispatcher = options.dispatcher ?? own!;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const headers = { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json', accept: 'application/json' };

  const send = async (body: Record<string, unknown>, o: { readonly timeoutMs: number; readonly signal?: AbortSignal }): Promise<ChatAttempt> => {
    if (o.signal?.aborted) throw o.signal.reason;
    // An own controller and a cleared timer rather than AbortSignal.timeout/any: a 24 h timeout
    // timer per request would otherwise stay alive for 24 h, and memory would grow per request.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('request timed out'));
    }, Math.min(2 ** 31 - 1, Math.max(1, Math.ceil(o.timeoutMs))));
    const onAbort = () => controller.abort(o.signal!.reason);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    let res: Dispatcher.ResponseData;
    let raw: Buffer | undefined;
    try {
      res = await undici().request(url, { method: 'POST', headers, body: JSON.stringify(body), dispatcher, signal: controller.signal });
      raw = await readLimited(res.body, maxBytes);
    } catch (err) {
      if (o.signal?.aborted) throw o.signal.reason;
      if (timedOut) return { kind: 'timeout' };
      return { kind: 'network', reason: describe(err) };
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    }
    return {
      kind: 'answer',
      status: res.statusCode,
      body: raw === undefined ? undefined : parseObject(raw),
      requestId: firstHeader(res.headers['x-request-id']) || undefined,
      retryAfter: parseRetryAfter(firstHeader(res.headers['retry-after'])),
      tooLarge: raw === undefined,
    };
  };
  return Object.assign(send, { url, close: async () => { await own?.close(); } });
}

async function readLimited(body: Dispatcher.ResponseData['body'], max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function parseObject(raw: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Seconds from `Retry-After` (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  const ms = retryAfterMs(value, now);
  return ms === undefined ? undefined : Math.ceil(ms / 1000);
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown }; name?: unknown };
  const code = e?.cause?.code ?? e?.code ?? e?.name;
  return typeof code === 'string' ? code : 'network error';
}
