import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { tosError } from './tos-errors.ts';

/**
 * TOS4-HMAC-SHA256 header authentication, as the real `@volcengine/tos-sdk` signs (an AWS
 * SigV4 clone): only `host` and `x-tos-*` headers are signed, the payload is always
 * `UNSIGNED-PAYLOAD`, and the key derivation starts from the raw secret key.
 */

export const TOS_ALGORITHM = 'TOS4-HMAC-SHA256';
/** Real TOS rejects requests whose x-tos-date is further than this from the server clock. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

/** encodeURIComponent plus the five characters it leaves alone but the SDK's signer encodes. */
function strictEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Canonical URI from an already decoded path: every byte encoded except '/'. */
export function canonicalUri(decodedPath: string): string {
  return decodedPath.split('/').map(strictEncode).join('/');
}

/** One query parameter as received: `uploads` and `uploads=` both give the empty value. */
export interface QueryPair {
  readonly key: string;
  readonly value: string;
}

/** Splits a raw query string (no `?`), decoding `+` as a space like the SDK's axios encoder. */
export function parseRawQuery(rawQuery: string): QueryPair[] {
  if (!rawQuery) return [];
  return rawQuery
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      const rawKey = eq < 0 ? part : part.slice(0, eq);
      const rawValue = eq < 0 ? '' : part.slice(eq + 1);
      return { key: decodeComponent(rawKey.replace(/\+/g, ' ')), value: decodeComponent(rawValue.replace(/\+/g, ' ')) };
    });
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch (cause) {
    throw tosError('InvalidArgument', `Malformed percent-encoding in ${JSON.stringify(text)}`, cause);
  }
}

/** Percent-decodes a raw request path; a malformed escape is a 400, not a crash. */
export function decodePath(rawPath: string): string {
  return decodeComponent(rawPath);
}

export function canonicalQuery(pairs: readonly QueryPair[]): string {
  return pairs
    .map((p) => ({ k: strictEncode(p.key), v: strictEncode(p.value) }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.v < b.v ? -1 : a.v > b.v ? 1 : 0))
    .map((p) => `${p.k}=${p.v}`)
    .join('&');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : String(value);
}

export interface CanonicalRequestInput {
  readonly method: string;
  /** The path as decoded from the request line (path style includes `/bucket`). */
  readonly decodedPath: string;
  readonly query: readonly QueryPair[];
  /** Lower-case signed header names, in the order they are signed (sorted). */
  readonly signedHeaders: readonly string[];
  readonly headers: IncomingHttpHeaders;
}

export function canonicalRequest(input: CanonicalRequestInput): string {
  const lines = input.signedHeaders.map((name) => `${name}:${(headerValue(input.headers, name) ?? '').replace(/\s+/g, ' ').trim()}`);
  return [
    input.method.toUpperCase(),
    canonicalUri(input.decodedPath),
    canonicalQuery(input.query),
    `${lines.join('\n')}\n`,
    input.signedHeaders.join(';'),
    'UNSIGNED-PAYLOAD',
  ].join('\n');
}

export function signingKey(secretKey: string, yyyymmdd: string, region: string, service = 'tos'): Buffer {
  const kDate = createHmac('sha256', secretKey).update(yyyymmdd).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('request').digest();
}

export function stringToSign(tosDate: string, scope: string, canonical: string): string {
  return [TOS_ALGORITHM, tosDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
}

export interface SignInput extends CanonicalRequestInput {
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  /** `YYYYMMDDTHHMMSSZ`, the value of the x-tos-date header. */
  readonly tosDate: string;
}

/** The hex signature and Authorization header for a request; the SDK's algorithm, used by tests and tools. */
export function signTosRequest(input: SignInput): { signature: string; authorization: string } {
  const scope = `${input.tosDate.slice(0, 8)}/${input.region}/tos/request`;
  const signature = createHmac('sha256', signingKey(input.secretKey, input.tosDate.slice(0, 8), input.region))
    .update(stringToSign(input.tosDate, scope, canonicalRequest(input)))
    .digest('hex');
  return {
    signature,
    authorization: `${TOS_ALGORITHM} Credential=${input.accessKey}/${scope}, SignedHeaders=${input.signedHeaders.join(';')}, Signature=${signature}`,
  };
}

/** `YYYYMMDDTHHMMSSZ` for a Date. */
export function formatTosDate(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

function parseTosDate(text: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return Number.isNaN(ms) ? null : new Date(ms);
}

export interface VerifyOptions {
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  /** When set, requests must carry exactly this `x-tos-security-token`. */
  readonly securityToken?: string;
  /** @default Date.now() */
  readonly now?: number;
  /** @default MAX_CLOCK_SKEW_MS (15 minutes) */
  readonly maxSkewMs?: number;
}

export interface VerifyInput {
  readonly method: string;
  readonly decodedPath: string;
  readonly query: readonly QueryPair[];
  readonly headers: IncomingHttpHeaders;
}

const AUTH_RE = /^TOS4-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/request\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/;

/**
 * Checks one request's Authorization header; throws a TOS error (AccessDenied,
 * AuthorizationHeaderMalformed, InvalidAccessKeyId, RequestTimeTooSkewed,
 * InvalidSecurityToken, SignatureDoesNotMatch) when it does not authenticate.
 */
export function verifyTosRequest(input: VerifyInput, options: VerifyOptions): void {
  const auth = headerValue(input.headers, 'authorization');
  if (!auth) throw tosError('AccessDenied', 'Anonymous access is not allowed: the request carries no Authorization header.');
  const m = AUTH_RE.exec(auth);
  if (!m) throw tosError('AuthorizationHeaderMalformed');
  const [, accessKey, scopeDate, scopeRegion, service, signedList, signature] = m;
  if (accessKey !== options.accessKey) throw tosError('InvalidAccessKeyId');
  const tosDate = headerValue(input.headers, 'x-tos-date') ?? '';
  const when = parseTosDate(tosDate);
  if (!when || tosDate.slice(0, 8) !== scopeDate) throw tosError('AuthorizationHeaderMalformed', 'x-tos-date is missing, malformed or does not match the credential scope.');
  const now = options.now ?? Date.now();
  if (Math.abs(now - when.getTime()) > (options.maxSkewMs ?? MAX_CLOCK_SKEW_MS)) throw tosError('RequestTimeTooSkewed');
  if (service !== 'tos') throw tosError('AuthorizationHeaderMalformed', `The credential scope names service ${service}, expected tos.`);
  const signedHeaders = signedList.split(';');
  const sorted = [...signedHeaders].sort();
  // Host must be signed or a request could be replayed against another bucket (virtual-host style).
  if (!signedHeaders.includes('host') || signedHeaders.some((h, i) => h !== sorted[i] || h !== h.toLowerCase())) {
    throw tosError('AuthorizationHeaderMalformed', 'SignedHeaders must be sorted, lower case and include host.');
  }
  // Every x-tos-* header present must be signed, so none can be added after signing.
  for (const name of Object.keys(input.headers)) {
    if (name.startsWith('x-tos-') && !signedHeaders.includes(name)) throw tosError('SignatureDoesNotMatch', `Header ${name} is not signed.`);
  }
  const token = headerValue(input.headers, 'x-tos-security-token');
  if (options.securityToken !== undefined && token !== options.securityToken) throw tosError('InvalidSecurityToken');
  const scope = `${scopeDate}/${scopeRegion}/tos/request`;
  const key = signingKey(options.secretKey, scopeDate, options.region);
  const expected = createHmac('sha256', key)
    .update(stringToSign(tosDate, scope, canonicalRequest({ ...input, signedHeaders })))
    .digest();
  const given = Buffer.from(signature, 'hex');
  if (scopeRegion !== options.region || !timingSafeEqual(expected, given)) throw tosError('SignatureDoesNotMatch');
}
