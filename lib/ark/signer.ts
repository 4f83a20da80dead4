/**
 * Volcengine OpenAPI request signing (HMAC-SHA256, the "V4" scheme of docs 6369/67269), used by
 * our OpenAPI client and, through `verifyRequest`, by the local service. node:crypto only.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** STS session token; sent and signed as X-Security-Token. */
  readonly sessionToken?: string;
}

export type QueryInput =
  | URLSearchParams
  | Iterable<readonly [string, string]>
  | Readonly<Record<string, string | number | boolean | readonly string[] | null | undefined>>;

export interface SignRequestInput {
  readonly method: string;
  /** Absolute URL; its host (with a non-default port) is signed as `host`, its path and query too. */
  readonly url: string | URL;
  /**
   * Headers the caller will send. Only a `Host` entry is used: it replaces the URL's host in the
   * signature (for a proxy or a Host override). Other headers are sent unsigned.
   */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  readonly credentials: SigningCredentials;
  readonly region: string;
  readonly service: string;
  /** Signing time. @default new Date() */
  readonly date?: Date;
}

export const ALGORITHM = 'HMAC-SHA256';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** RFC 3986: everything but A-Za-z0-9-_.~ is percent-encoded (space → %20). */
export function uriEscape(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `20240619T071306Z` */
export function formatXDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

export function parseXDate(value: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return Number.isNaN(d.getTime()) || formatXDate(d) !== value ? null : d;
}

function queryPairs(query: QueryInput): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (query instanceof URLSearchParams || Symbol.iterator in Object(query)) {
    for (const [k, v] of query as Iterable<readonly [string, string]>) pairs.push([k, v]);
    return pairs;
  }
  for (const [k, v] of Object.entries(query as Record<string, unknown>)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const item of v) pairs.push([k, String(item)]);
    else pairs.push([k, String(v)]);
  }
  return pairs;
}

/**
 * Keys sorted by their UTF-8 bytes (Go/Python SDKs sort raw keys), repeated keys kept with their
 * encoded values sorted (the Node SDK's array rule), `k=v` joined by `&`.
 */
export function canonicalQuery(query: QueryInput): string {
  const pairs = queryPairs(query).map(([k, v]) => ({ raw: Buffer.from(k, 'utf8'), key: uriEscape(k), value: uriEscape(v) }));
  pairs.sort((a, b) => Buffer.compare(a.raw, b.raw) || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  return pairs.map((p) => `${p.key}=${p.value}`).join('&');
}

/** Header values are trimmed and inner whitespace runs collapsed, as the official SDKs do. */
function canonicalHeaderValue(value: string): string {
  return value.replace(/\s+/g, ' ').trim();
}

export interface CanonicalRequestParts {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  /** Lowercased signed header name → value. */
  readonly headers: Readonly<Record<string, string>>;
  readonly signedHeaders: readonly string[];
  readonly payloadHash: string;
}

export function canonicalRequest(p: CanonicalRequestParts): string {
  const names = [...p.signedHeaders].sort();
  const block = names.map((n) => `${n}:${canonicalHeaderValue(p.headers[n] ?? '')}\n`).join('');
  return [p.method.toUpperCase(), p.path || '/', p.query, block, names.join(';'), p.payloadHash].join('\n');
}

export function credentialScope(xDate: string, region: string, service: string): string {
  return `${xDate.slice(0, 8)}/${region}/${service}/request`;
}

export function stringToSign(xDate: string, scope: string, canonical: string): string {
  return `${ALGORITHM}\n${xDate}\n${scope}\n${sha256Hex(canonical)}`;
}

/** The secret is used as a literal UTF-8 string, with no prefix (unlike AWS4). */
export function signingKey(secretAccessKey: string, shortDate: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(secretAccessKey, shortDate), region), service), 'request');
}

export function computeSignature(key: Buffer, toSign: string): string {
  return createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

/**
 * Headers to add to a request: X-Date, X-Content-Sha256, X-Security-Token (with an STS token) and
 * Authorization. SignedHeaders = host;x-content-sha256;x-date(;x-security-token), like the
 * official Ark examples. The caller's Host header (if any) must equal the URL's host.
 */
export function signRequest(input: SignRequestInput): Record<string, string> {
  const url = typeof input.url === 'string' ? new URL(input.url) : input.url;
  const xDate = formatXDate(input.date ?? new Date());
  const payloadHash = input.body === undefined || input.body.length === 0 ? EMPTY_SHA256 : sha256Hex(input.body);
  const added: Record<string, string> = { 'X-Date': xDate, 'X-Content-Sha256': payloadHash };
  const hostOverride = Object.entries(input.headers ?? {}).find(([k]) => k.toLowerCase() === 'host')?.[1];
  const signed: Record<string, string> = { host: hostOverride ?? url.host, 'x-content-sha256': payloadHash, 'x-date': xDate };
  if (input.credentials.sessionToken) {
    added['X-Security-Token'] = input.credentials.sessionToken;
    signed['x-security-token'] = input.credentials.sessionToken;
  }
  const canonical = canonicalRequest({
    method: input.method,
    path: url.pathname,
    query: canonicalQuery(url.searchParams),
    headers: signed,
    signedHeaders: Object.keys(signed),
    payloadHash,
  });
  const scope = credentialScope(xDate, input.region, input.service);
  const key = signingKey(input.credentials.secretAccessKey, xDate.slice(0, 8), input.region, input.service);
  const signature = computeSignature(key, stringToSign(xDate, scope, canonical));
  added.Authorization =
    `${ALGORITHM} Credential=${input.credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${Object.keys(signed).sort().join(';')}, Signature=${signature}`;
  return added;
}

// ---------------------------------------------------------------------------------------------
// Verification (server side)

/** Codes and HTTP statuses as in Volcengine's common OpenAPI error table. */
export type VerifyFailureCode =
  | 'MissingAuthenticationToken'
  | 'MissingRequestInfo'
  | 'InvalidTimestamp'
  | 'InvalidAccessKey'
  | 'SignatureDoesNotMatch';

export type VerifyResult =
  | { readonly ok: true; readonly accessKeyId: string }
  | { readonly ok: false; readonly code: VerifyFailureCode; readonly message: string };

export interface VerifyRequestInput {
  readonly method: string;
  /** The request target as received: path plus query (`/?Action=…`). */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: Uint8Array;
  /** Secret for an access key id, or undefined when the key is unknown. */
  readonly secretFor: (accessKeyId: string) => string | undefined;
  readonly region: string;
  readonly service: string;
  /** @default new Date() */
  readonly now?: Date;
  /** Allowed |now − X-Date|. @default 900_000 (15 min) */
  readonly maxSkewMs?: number;
}

const AUTH_RE = /^HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]+)\s*$/;

function header(headers: VerifyRequestInput['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : (v as string | undefined);
}

function fail(code: VerifyFailureCode, message: string): VerifyResult {
  return { ok: false, code, message };
}

const MISMATCH =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your Secret Access Key and signing method. Consult the service documentation for details.';

/** Checks a signed request. Header names in `headers` must be lowercase (node's IncomingMessage). */
export function verifyRequest(input: VerifyRequestInput): VerifyResult {
  const auth = header(input.headers, 'authorization');
  if (!auth) return fail('MissingAuthenticationToken', 'Request is missing Authentication Token.');
  const m = AUTH_RE.exec(auth);
  if (!m) return fail('MissingRequestInfo', 'The request is missing valid Authorization information.');
  const [, credential, signedList, signature] = m;
  const scopeParts = credential.split('/');
  if (scopeParts.length !== 5 || scopeParts[4] !== 'request') {
    return fail('MissingRequestInfo', 'The request is missing valid Credential information.');
  }
  const [accessKeyId, shortDate, region, service] = scopeParts;
  const xDate = header(input.headers, 'x-date');
  if (!xDate) return fail('MissingRequestInfo', 'The request is missing X-Date information.');
  const signedAt = parseXDate(xDate);
  if (!signedAt || shortDate !== xDate.slice(0, 8)) {
    return fail('InvalidTimestamp', 'The signature of the request is expired.');
  }
  const now = (input.now ?? new Date()).getTime();
  if (Math.abs(now - signedAt.getTime()) > (input.maxSkewMs ?? 900_000)) {
    return fail('InvalidTimestamp', 'The signature of the request is expired.');
  }
  const secret = input.secretFor(accessKeyId);
  if (secret === undefined) {
    return fail('InvalidAccessKey', `The accesskey [${accessKeyId}] included in the request is invalid.`);
  }
  if (region !== input.region || service !== input.service) return fail('SignatureDoesNotMatch', MISMATCH);
  const signedHeaders = signedList.split(';');
  const lowered = signedHeaders.map((h) => h.toLowerCase());
  if (!lowered.includes('x-date') || lowered.some((h, i) => h !== signedHeaders[i])) {
    return fail('SignatureDoesNotMatch', MISMATCH);
  }
  const values: Record<string, string> = {};
  for (const name of signedHeaders) {
    const v = header(input.headers, name);
    if (v === undefined) return fail('SignatureDoesNotMatch', MISMATCH);
    values[name] = v;
  }
  const bodyHash = sha256Hex(input.body);
  const sentHash = header(input.headers, 'x-content-sha256');
  if (sentHash !== undefined && sentHash.toLowerCase() !== bodyHash) return fail('SignatureDoesNotMatch', MISMATCH);
  const target = new URL(input.url, 'http://verify.invalid');
  const canonical = canonicalRequest({
    method: input.method,
    path: target.pathname,
    query: canonicalQuery(target.searchParams),
    headers: values,
    signedHeaders,
    payloadHash: sentHash ?? bodyHash,
  });
  const expected = computeSignature(
    signingKey(secret, shortDate, region, service),
    stringToSign(xDate, credentialScope(xDate, region, service), canonical),
  );
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(signature.toLowerCase(), 'utf8');
  if (a.length !== b.length || !timingSafeEqual(a, b)) return fail('SignatureDoesNotMatch', MISMATCH);
  return { ok: true, accessKeyId };
}
