import { createRequire } from 'node:module';
import type { TosClient } from '@volcengine/tos-sdk';

// The SDK (and its axios) is large: loaded on the first client, so the commands and library
// users that never talk to TOS do not pay for it.
const requireCjs = createRequire(import.meta.url);
import { STATUS_CODES } from 'node:http';
import { ArkBatchError } from '../errors.ts';

/**
 * The TOS client from a CloudConfig-like object, and the few facts about SDK errors the
 * transfer code needs (retryable or not, status, request id). Secrets go into the SDK and
 * nowhere else: no message built here ever contains them.
 */

export interface TosClientConfig {
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
  readonly region: string;
  /** A URL: `https://tos-cn-beijing.volces.com` or `http://127.0.0.1:P`. */
  readonly tosEndpoint: string;
}

export interface TosClientOptions {
  /** Socket-idle timeout per request; a stalled request fails with a retryable error. @default 60000 */
  readonly requestTimeoutMs?: number;
  /** @default 10000 */
  readonly connectionTimeoutMs?: number;
}

/**
 * Builds the SDK client. The SDK's own retries are off (it retries at once, without backoff,
 * and never replays stream bodies): upload.ts and download.ts retry with p-retry instead.
 */
export function createTosClient(config: TosClientConfig, options: TosClientOptions = {}): TosClient {
  if (!config.accessKeyId) throw new ArkBatchError('E_CONFIG', 'VOLC_ACCESSKEY is not set (or pass --local to use the embedded service)');
  if (!config.secretAccessKey) throw new ArkBatchError('E_CONFIG', 'VOLC_SECRETKEY is not set (or pass --local to use the embedded service)');
  let url: URL;
  try {
    url = new URL(config.tosEndpoint);
  } catch (err) {
    throw new ArkBatchError('E_CONFIG', `Expected TOS_ENDPOINT to be a URL like https://tos-cn-beijing.volces.com, got ${JSON.stringify(config.tosEndpoint)}`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ArkBatchError('E_CONFIG', `Expected TOS_ENDPOINT to start with http:// or https://, got ${JSON.stringify(url.protocol)}`);
  }
  // An IP literal makes the SDK use path style; a host name needs forcePathStyle only when it is
  // not a real TOS endpoint (localhost, a docker service), where virtual hosts do not resolve.
  const virtualHostOk = /(^|\.)volces\.com$|(^|\.)bytepluses\.com$/.test(url.hostname);
  // Options are omitted rather than set to undefined: the SDK signs an explicit undefined.
  const input: ConstructorParameters<typeof TosClient>[0] = {
    accessKeyId: config.accessKeyId,
    accessKeySecret: config.secretAccessKey,
    region: config.region,
    endpoint: url.host,
    secure: url.protocol === 'https:',
    maxRetryCount: 0,
    requestTimeout: options.requestTimeoutMs ?? 60_000,
    connectionTimeout: options.connectionTimeoutMs ?? 10_000,
  };
  if (config.sessionToken) input.stsToken = config.sessionToken;
  if (!virtualHostOk && !/^\d/.test(url.hostname)) (input as { forcePathStyle?: boolean }).forcePathStyle = true;
  const { TosClient: Client } = requireCjs('@volcengine/tos-sdk') as typeof import('@volcengine/tos-sdk');
  return new Client(input);
}

export interface TosLocation {
  readonly bucket: string;
  /** The key or prefix; '' for a bare bucket. */
  readonly key: string;
}

/** `tos://bucket/some/key` → {bucket, key}. Throws E_USAGE for anything else. */
export function parseTosUri(uri: string): TosLocation {
  const m = /^tos:\/\/([^/]+)(?:\/(.*))?$/s.exec(uri);
  if (!m) throw new ArkBatchError('E_USAGE', `Expected a TOS URI like tos://bucket/key, got ${JSON.stringify(uri)}`);
  const bucket = m[1]!;
  if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ArkBatchError('E_USAGE', `Expected a bucket name of 3-63 characters a-z, 0-9 and -, got ${JSON.stringify(bucket)}`);
  }
  return { bucket, key: m[2] ?? '' };
}

export function formatTosUri(location: TosLocation): string {
  return `tos://${location.bucket}/${location.key}`;
}

/** What the transfer code reads from an SDK or network error. */
export interface TosErrorInfo {
  readonly status?: number;
  readonly remoteCode?: string;
  readonly requestId?: string;
  /** A Node/axios error code (ECONNRESET, ECONNABORTED …). */
  readonly netCode?: string;
}

export function tosErrorInfo(err: unknown): TosErrorInfo {
  if (typeof err !== 'object' || err === null) return {};
  const e = err as { statusCode?: unknown; code?: unknown; requestId?: unknown; response?: { status?: unknown } };
  const status = typeof e.statusCode === 'number' ? e.statusCode : typeof e.response?.status === 'number' ? e.response.status : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const isNet = code !== undefined && /^E[A-Z_]+$/.test(code) && status === undefined;
  return {
    status,
    remoteCode: isNet ? undefined : code,
    requestId: typeof e.requestId === 'string' && e.requestId ? e.requestId : undefined,
    netCode: isNet ? code : undefined,
  };
}

const RETRYABLE_NET = new Set(['ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);

/** 5xx, 429, 408, connection resets and timeouts are worth another try; everything else is not. */
export function isRetryableTosError(err: unknown): boolean {
  if (err instanceof ArkBatchError) return false;
  const info = tosErrorInfo(err);
  if (info.status !== undefined) return info.status >= 500 || info.status === 429 || info.status === 408;
  if (info.netCode !== undefined) return RETRYABLE_NET.has(info.netCode);
  const message = err instanceof Error ? err.message : '';
  return /socket hang up|aborted|timeout|network error/i.test(message);
}

/** Wraps an SDK error in an ArkBatchError with the status, TOS code and request id; never the request. */
export function tosError(code: 'E_TOS' | 'E_UPLOAD_PART' | 'E_DOWNLOAD', what: string, err: unknown, extra: { partNumber?: number; file?: string } = {}): ArkBatchError {
  if (err instanceof ArkBatchError) return err;
  const info = tosErrorInfo(err);
  // HEAD and GET errors carry no TOS code; the status text at least says "Not Found".
  const reason = [info.status !== undefined ? `HTTP ${info.status}` : '', info.remoteCode ?? (info.status !== undefined ? (STATUS_CODES[info.status] ?? '') : ''), info.netCode ?? '', !info.status && !info.netCode && err instanceof Error ? err.message : '']
    .filter(Boolean)
    .join(' ');
  return new ArkBatchError(code, `${what} failed: ${reason || 'unknown error'}`, {
    ...extra,
    status: info.status,
    remoteCode: info.remoteCode,
    requestId: info.requestId,
    cause: err,
  });
}
