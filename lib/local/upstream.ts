/**
 * A `ChatResponder` that forwards each body to a real OpenAI-compatible endpoint
 * (`POST {baseUrl}/chat/completions`, e.g. Ark's `https://ark.cn-beijing.volces.com/api/v3`) over
 * one keep-alive undici Agent, and hands back the upstream's status, JSON body, `x-request-id`
 * and `Retry-After` unchanged. Only what the upstream could not say itself is made up here:
 * no connection → 502 UpstreamUnavailable, no answer within `timeoutMs` → 504 UpstreamTimeout,
 * an answer that is not a JSON object → UpstreamBadResponse (502, or the upstream's own
 * error status). Those carry a local request id. The API key never appears in a reply.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { arkErrorReply } from './ark-errors.ts';
import { createRequestIdGenerator, type RequestIdGenerator } from './ids.ts';
import type { ChatReply, ChatResponder } from './responder-types.ts';

export interface UpstreamResponderOptions {
  /** Base URL of the OpenAI-compatible API, without the `/chat/completions` path. */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  readonly apiKey: string;
  /** Whole-request deadline (connect + answer + body), in ms. */
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
}

export interface UpstreamResponder extends ChatResponder {
  /** Closes the own Agent (keep-alive sockets). */
  close(): Promise<void>;
}

export function createUpstreamResponder(options: UpstreamResponderOptions): UpstreamResponder {
  const url = new URL(options.baseUrl.replace(/\/+$/, '') + (options.path ?? '/chat/completions'));
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`Expected an http(s) baseUrl, got ${url.protocol}`);
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) throw new RangeError(`Expected timeoutMs > 0, got ${options.timeoutMs}`);
  const own = options.dispatcher ? undefined : new Agent({ keepAliveTimeout: 30_000, connections: options.connections ?? 256 });
  const dispatcher = options.dispatcher ?? own!;
  const ids = options.ids ?? createRequestIdGenerator();
  const maxBytes = options.maxResponseBytes ?? 64 * 1024 * 1024;
  const headers = { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json', accept: 'application/json' };

  const respond = async (body: Record<string, unknown>, signal?: AbortSignal): Promise<ChatReply> => {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const payload = JSON.stringify(options.model === undefined ? body : { ...body, model: options.model });
    let res: Dispatcher.ResponseData;
    let raw: Buffer | undefined;
    try {
      res = await request(url, {
        method: 'POST',
        headers,
        body: payload,
        dispatcher,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      raw = await readLimited(res.body, maxBytes);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) return arkErrorReply('UpstreamTimeout', ids(), { message: `The upstream did not answer within ${options.timeoutMs} ms.` });
      return arkErrorReply('UpstreamUnavailable', ids(), { message: `The upstream could not be reached (${describe(err)}).` });
    }
    const requestId = firstHeader(res.headers['x-request-id']) || ids();
    const retryAfter = parseRetryAfter(firstHeader(res.headers['retry-after']));
    const extra = retryAfter === undefined ? {} : { retryAfter };
    if (raw === undefined) {
      return arkErrorReply('UpstreamBadResponse', requestId, { message: `The upstream answer exceeds ${maxBytes} bytes.`, ...extra });
    }
    const json = parseObject(raw);
    if (json === undefined) {
      const status = res.statusCode >= 400 ? res.statusCode : 502;
      return arkErrorReply('UpstreamBadResponse', requestId, { status, message: `The upstream answered ${res.statusCode} with a body that is not a JSON object.`, ...extra });
    }
    return { status: res.statusCode, body: json, requestId, ...extra };
  };
  return Object.assign(respond, { close: async () => { await own?.close(); } });
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
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds : undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown }; name?: unknown };
  const code = e?.cause?.code ?? e?.code ?? e?.name;
  return typeof code === 'string' ? code : 'network error';
}
