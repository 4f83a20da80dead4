/**
 * A small client of the Volcengine OpenAPI as Ark uses it (ark.md §1.1): `POST /?Action=…&Version=…`
 * with a JSON body, every request signed with `signer.ts`, sent through one undici Agent with
 * timeouts. Network errors, 429 and 5xx are retried by p-retry with exponential backoff and
 * jitter; a `Retry-After` is waited out before the backoff. Failures become `ArkApiError`
 * (`E_ARK_API`) with the service's Code, CodeN, Message, RequestId and HTTP status.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry, { AbortError } from 'p-retry';
import { createRequire } from 'node:module';
import type { Dispatcher } from 'undici';

// undici is loaded when the first client is made, not when this module is imported.
const requireCjs = createRequire(import.meta.url);
let undiciModule: typeof import('undici') | undefined;
const undici = () => (undiciModule ??= requireCjs('undici') as typeof import('undici'));
import { ArkBatchError, type ErrorContext } from '../errors.ts';
import { signRequest, type SigningCredentials } from './signer.ts';
import { retryAfterMs } from '../util/retry-after.ts';

export const ARK_OPENAPI_VERSION = '2024-01-01';

export interface ArkOpenApiClientOptions {
  /** Base URL, e.g. `https://open.volcengineapi.com` or `http://127.0.0.1:P`. */
  readonly endpoint: string;
  /** AK/SK, with `sessionToken` for STS credentials. */
  readonly credentials: SigningCredentials;
  /** Signing region. */
  readonly region: string;
  /** @default 'ark' */
  readonly service?: string;
  /** @default '2024-01-01' */
  readonly version?: string;
  /** Retries after the first attempt. @default 6 */
  readonly retries?: number;
  /** First backoff delay; doubled per retry, times a random 1–2 for jitter. @default 500 */
  readonly minRetryDelayMs?: number;
  /** @default 20000 */
  readonly maxRetryDelayMs?: number;
  /** Longest Retry-After honoured; longer values are capped. @default 60000 */
  readonly maxRetryAfterMs?: number;
  /** @default 10000 */
  readonly connectTimeoutMs?: number;
  /** Time to the response headers. @default 30000 */
  readonly headersTimeoutMs?: number;
  /** Longest gap between body chunks. @default 30000 */
  readonly bodyTimeoutMs?: number;
  /** Largest response body read. @default 16 MiB */
  readonly maxResponseBytes?: number;
  /** Use this dispatcher (tests, proxies) instead of an own Agent; it is not closed by `close()`. */
  readonly dispatcher?: Dispatcher;
  /** Told about each failed attempt that will be retried (for logs); must not throw. */
  readonly onRetry?: (info: RetryInfo) => void;
  /** How Retry-After is waited out. @default timers/promises setTimeout */
  readonly delay?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface RetryInfo {
  readonly action: string;
  /** 1-based attempt that failed. */
  readonly attempt: number;
  readonly retriesLeft: number;
  readonly error: ArkApiError;
  /** From Retry-After, when the service sent one. */
  readonly retryAfterMs?: number;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
  /** Extra query parameters besides Action and Version (ResumeBatchInferenceJob's `Id`). */
  readonly query?: Readonly<Record<string, string>>;
}

export interface ArkResponse<T> {
  readonly result: T;
  readonly requestId: string;
}

export interface ArkOpenApiClient {
  call<T = unknown>(action: string, params?: object, options?: CallOptions): Promise<ArkResponse<T>>;
  /** Closes the own Agent (not an injected dispatcher). */
  close(): Promise<void>;
}

/** An OpenAPI failure: what the service said, or the network error that stopped the request. */
export class ArkApiError extends ArkBatchError {
  readonly action: string;
  /** `ResponseMetadata.Error.CodeN`, when sent. */
  readonly codeN?: number;
  /** `ResponseMetadata.Error.Message`, verbatim. */
  readonly remoteMessage: string;
  /** Network error, 429 or 5xx. */
  readonly retryable: boolean;
  readonly retryAfterMs?: number;

  constructor(action: string, detail: string, ctx: ErrorContext & { codeN?: number; remoteMessage?: string; retryable: boolean; retryAfterMs?: number }) {
    const { codeN, remoteMessage, retryable, retryAfterMs, ...context } = ctx;
    super('E_ARK_API', detail, context);
    this.name = 'ArkApiError';
    this.action = action;
    this.codeN = codeN;
    this.remoteMessage = remoteMessage ?? '';
    this.retryable = retryable;
    this.retryAfterMs = retryAfterMs;
  }
}

export function isArkApiError(err: unknown): err is ArkApiError {
  return err instanceof ArkApiError;
}

interface Envelope {
  ResponseMetadata?: { RequestId?: string; Error?: { Code?: string; CodeN?: number; Message?: string } };
  Result?: unknown;
}

/** Seconds or an HTTP date, as RFC 9110 allows, in ms; anything else is ignored. */
export const parseRetryAfter = retryAfterMs;

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

export function createArkOpenApiClient(options: ArkOpenApiClientOptions): ArkOpenApiClient {
  const o = {
    service: options.service ?? 'ark',
    version: options.version ?? ARK_OPENAPI_VERSION,
    retries: options.retries ?? 6,
    minRetryDelayMs: options.minRetryDelayMs ?? 500,
    maxRetryDelayMs: options.maxRetryDelayMs ?? 20_000,
    maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
    maxResponseBytes: options.maxResponseBytes ?? 16 * 1024 * 1024,
    delay: options.delay ?? ((ms: number, signal?: AbortSignal) => sleep(ms, undefined, { signal })),
  };
  const base = new URL(options.endpoint);
  const ownAgent = options.dispatcher
    ? undefined
    : new (undici().Agent)({
        connectTimeout: options.connectTimeoutMs ?? 10_000,
        headersTimeout: options.headersTimeoutMs ?? 30_000,
        bodyTimeout: options.bodyTimeoutMs ?? 30_000,
      });
  const dispatcher = options.dispatcher ?? ownAgent!;

  async function attempt(action: string, body: string, call: CallOptions): Promise<ArkResponse<unknown>> {
    const url = new URL(base);
    url.pathname = base.pathname || '/';
    url.search = new URLSearchParams({ Action: action, Version: o.version, ...call.query }).toString();
    const signed = signRequest({ method: 'POST', url, body, credentials: options.credentials, region: options.region, service: o.service });
    let res: Dispatcher.ResponseData;
    try {
      res = await undici().request(url, {
        method: 'POST',
        dispatcher,
        signal: call.signal,
        headers: { ...signed, 'Content-Type': 'application/json; charset=utf-8' },
        body,
      });
    } catch (err) {
      throw networkError(action, err, call.signal);
    }
    let text: string;
    try {
      text = await readLimited(res.body, o.maxResponseBytes);
    } catch (err) {
      if (err instanceof ArkBatchError) throw err;
      throw networkError(action, err, call.signal);
    }
    const status = res.statusCode;
    const headerRequestId = String(res.headers['x-tt-logid'] ?? '') || undefined;
    let envelope: Envelope | undefined;
    try {
      envelope = JSON.parse(text) as Envelope;
    } catch {
      envelope = undefined;
    }
    const requestId = envelope?.ResponseMetadata?.RequestId ?? headerRequestId;
    const retryable = status === 429 || status >= 500;
    const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
    const error = envelope?.ResponseMetadata?.Error;
    if (error || status >= 300 || typeof envelope !== 'object' || envelope === null) {
      const code = error?.Code ?? `HTTP${status}`;
      const message = error?.Message ?? (envelope ? 'no error details in the response' : `response is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
      throw new ArkApiError(action, `${action} failed: ${code}: ${message}`, {
        remoteCode: code,
        codeN: error?.CodeN,
        remoteMessage: error?.Message,
        requestId,
        status,
        retryable,
        retryAfterMs,
      });
    }
    return { result: envelope.Result ?? {}, requestId: requestId ?? '' };
  }

  return {
    async call<T>(action: string, params: object = {}, call: CallOptions = {}): Promise<ArkResponse<T>> {
      const body = JSON.stringify(params);
      const aborted = (err: unknown) => {
        // p-retry rejects with the signal's reason; callers match on our codes, not on that.
        throw call.signal?.aborted && !(err instanceof ArkBatchError) ? new ArkBatchError('E_ABORTED', `${action} aborted`, { cause: err }) : err;
      };
      return (await pRetry(
        async () => {
          try {
            return await attempt(action, body, call);
          } catch (err) {
            // p-retry stops on AbortError; everything not retryable ends the loop as itself.
            if (err instanceof ArkApiError && err.retryable && !call.signal?.aborted) throw err;
            throw new AbortError(err as Error);
          }
        },
        {
          retries: o.retries,
          minTimeout: o.minRetryDelayMs,
          maxTimeout: o.maxRetryDelayMs,
          factor: 2,
          randomize: true,
          signal: call.signal,
          onFailedAttempt: async (failure) => {
            const error = failure as unknown as ArkApiError & { attemptNumber: number; retriesLeft: number };
            if (error.retriesLeft <= 0) return;
            options.onRetry?.({ action, attempt: error.attemptNumber, retriesLeft: error.retriesLeft, error, retryAfterMs: error.retryAfterMs });
            if (error.retryAfterMs !== undefined && error.retryAfterMs > 0) await o.delay(Math.min(error.retryAfterMs, o.maxRetryAfterMs), call.signal);
          },
        },
      ).catch(aborted)) as ArkResponse<T>;
    },
    async close() {
      await ownAgent?.close();
    },
  };
}

function networkError(action: string, err: unknown, signal?: AbortSignal): ArkApiError | ArkBatchError {
  if (signal?.aborted) return new ArkBatchError('E_ABORTED', `${action} aborted`, { cause: signal.reason ?? err });
  const code = (err as NodeJS.ErrnoException)?.code ?? (err as { cause?: NodeJS.ErrnoException })?.cause?.code;
  const retryable = code === undefined || NETWORK_CODES.has(code) || /socket|network|terminated/i.test((err as Error)?.message ?? '');
  return new ArkApiError(action, `${action} failed: network error ${code ?? ''}${code ? ': ' : ''}${(err as Error)?.message ?? String(err)}`, {
    remoteCode: code,
    retryable,
    cause: err,
  });
}

async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new ArkBatchError('E_BUFFER_LIMIT', `OpenAPI response larger than maxResponseBytes=${limit}`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
