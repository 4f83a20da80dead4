import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { decodePath, parseRawQuery, type QueryPair } from './tos-signature.ts';

/**
 * What a TOS request addresses: bucket, key and the SDK operation name (used by the handler to
 * dispatch and by the server to pick fault rules), from path style or virtual-host style.
 */

export type TosOperation =
  | 'listBuckets'
  | 'createBucket'
  | 'headBucket'
  | 'deleteBucket'
  | 'listObjects'
  | 'listObjectsType2'
  | 'listMultipartUploads'
  | 'putObject'
  | 'getObject'
  | 'headObject'
  | 'deleteObject'
  | 'createMultipartUpload'
  | 'uploadPart'
  | 'completeMultipartUpload'
  | 'abortMultipartUpload'
  | 'listParts'
  | 'unsupported';

export interface ParsedTosRequest {
  readonly operation: TosOperation;
  readonly method: string;
  /** The percent-decoded path as signed (path style includes `/bucket`). */
  readonly decodedPath: string;
  readonly query: readonly QueryPair[];
  readonly bucket: string;
  /** Empty for bucket-level requests. */
  readonly key: string;
  readonly virtualHost: boolean;
}

/** Hosts that address the service itself rather than a bucket: IP literals, localhost, single-label names. */
function isServiceHost(hostname: string): boolean {
  if (isIP(hostname.replace(/^\[|\]$/g, '')) !== 0) return true;
  const labels = hostname.split('.');
  // `bucket.tos-cn-beijing.volces.com` names a bucket; `tos-cn-beijing.volces.com` is the service.
  return !(labels.length >= 3 && labels[1].startsWith('tos-'));
}

function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon >= 0 ? host.slice(0, colon) : host;
}

/** Splits a request into bucket, key and operation; throws a TOS error for malformed encoding. */
export function parseTosRequest(req: IncomingMessage): ParsedTosRequest {
  let rawUrl = req.url ?? '/';
  let host = String(req.headers.host ?? '');
  // A forward-proxy client (the SDK's proxyHost option) sends an absolute URI.
  const absolute = /^https?:\/\/([^/?#]*)(.*)$/i.exec(rawUrl);
  if (absolute) {
    host ||= absolute[1];
    rawUrl = absolute[2] || '/';
  }
  const q = rawUrl.indexOf('?');
  const rawPath = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
  const query = parseRawQuery(q >= 0 ? rawUrl.slice(q + 1) : '');
  const decodedPath = decodePath(rawPath);
  const hostname = hostnameOf(host).toLowerCase();
  const virtualHost = hostname !== '' && !isServiceHost(hostname);
  let bucket: string;
  let key: string;
  if (virtualHost) {
    bucket = hostname.split('.')[0];
    key = decodedPath.slice(1);
  } else {
    const rest = decodedPath.slice(1);
    const slash = rest.indexOf('/');
    bucket = slash >= 0 ? rest.slice(0, slash) : rest;
    key = slash >= 0 ? rest.slice(slash + 1) : '';
  }
  const method = (req.method ?? 'GET').toUpperCase();
  return { operation: classify(method, bucket, key, query, req.headers), method, decodedPath, query, bucket, key, virtualHost };
}

function has(query: readonly QueryPair[], name: string): boolean {
  return query.some((p) => p.key === name);
}

/** The first value of a query parameter, if present. */
export function queryValue(query: readonly QueryPair[], name: string): string | undefined {
  return query.find((p) => p.key === name)?.value;
}

function classify(method: string, bucket: string, key: string, query: readonly QueryPair[], headers: IncomingHttpHeaders): TosOperation {
  if (!bucket) return method === 'GET' ? 'listBuckets' : 'unsupported';
  if (!key) {
    if (method === 'PUT' && query.length === 0) return 'createBucket';
    if (method === 'HEAD') return 'headBucket';
    if (method === 'DELETE' && query.length === 0) return 'deleteBucket';
    if (method === 'GET' && has(query, 'uploads')) return 'listMultipartUploads';
    if (method === 'GET' && queryValue(query, 'list-type') === '2') return 'listObjectsType2';
    if (method === 'GET' && !['acl', 'cors', 'lifecycle', 'policy', 'versioning', 'versions', 'tagging'].some((k) => has(query, k))) return 'listObjects';
    return 'unsupported';
  }
  const copy = headers['x-tos-copy-source'] !== undefined;
  if (method === 'POST' && has(query, 'uploads')) return 'createMultipartUpload';
  if (method === 'PUT' && has(query, 'partNumber') && has(query, 'uploadId')) return copy ? 'unsupported' : 'uploadPart';
  if (method === 'POST' && has(query, 'uploadId')) return 'completeMultipartUpload';
  if (method === 'DELETE' && has(query, 'uploadId')) return 'abortMultipartUpload';
  if (method === 'GET' && has(query, 'uploadId')) return 'listParts';
  const subresource = ['acl', 'tagging', 'append', 'modify', 'rename', 'restore', 'fetch', 'symlink', 'delete'].some((k) => has(query, k));
  if (subresource) return 'unsupported';
  if (method === 'PUT') return copy ? 'unsupported' : 'putObject';
  if (method === 'GET') return 'getObject';
  if (method === 'HEAD') return 'headObject';
  if (method === 'DELETE') return 'deleteObject';
  return 'unsupported';
}

/**
 * One `Range` header against an object size: a satisfiable single range, 'unsatisfiable',
 * or null to serve the whole object (no header, syntax we ignore as HTTP allows, or several ranges).
 */
export function parseRange(value: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!value) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(value);
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

