import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CompletePart, MultipartStore } from './multipart-types.ts';
import type { StoredObjectInfo } from './store-types.ts';
import { tosError, tosErrorWire } from './tos-errors.ts';
import { parseRange, parseTosRequest, queryValue, type ParsedTosRequest } from './tos-request.ts';
import { verifyTosRequest, type QueryPair } from './tos-signature.ts';

/**
 * The TOS wire protocol over a MultipartStore, for the real `@volcengine/tos-sdk`: JSON bodies,
 * `x-tos-*` headers, TOS4-HMAC-SHA256 auth, path style (`/bucket/key`) and virtual-host style
 * (`Host: bucket.tos-<region>.volces.com`, what the SDK sends with its `proxy` option).
 */

/** What the server may ask of the handler for one request (fault injection). */
export interface TosRequestContext {
  /** Send half of a GET object body, then destroy the socket (a `reset` fault mid-download). */
  readonly resetMidBody?: boolean;
}

export type TosHandler = (req: IncomingMessage, res: ServerResponse, context?: TosRequestContext) => Promise<void>;

export interface TosHandlerOptions {
  readonly store: MultipartStore;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  /** Require this STS token on every request. @default none (a signed token is accepted) */
  readonly securityToken?: string;
  /** Clock for the skew check, in ms since the epoch. @default Date.now */
  readonly now?: () => number;
  /** @default 15 minutes */
  readonly maxSkewMs?: number;
  /** Largest CompleteMultipartUpload JSON body. @default 4 MiB (10,000 parts fit in ~1 MiB) */
  readonly maxCompleteBodyBytes?: number;
}

const DEFAULT_MAX_COMPLETE_BODY = 4 * 1024 * 1024;

/** A new TOS-looking request id: 24 hex characters. */
export function newTosRequestId(): string {
  return randomBytes(12).toString('hex');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** `x-tos-meta-*` request headers, kept as sent (the SDK percent-encodes non-ASCII values). */
function metaFrom(req: IncomingMessage): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith('x-tos-meta-') && value !== undefined) meta[name.slice('x-tos-meta-'.length)] = Array.isArray(value) ? value.join(',') : value;
  }
  return meta;
}

function objectHeaders(info: StoredObjectInfo): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': info.contentType,
    etag: info.etag,
    'last-modified': info.lastModified.toUTCString(),
    'x-tos-hash-crc64ecma': info.crc64,
    'x-tos-storage-class': 'STANDARD',
    'accept-ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(info.meta)) headers[`x-tos-meta-${k}`] = v;
  return headers;
}

async function readSmallBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tosError('EntityTooLarge', `The request body is larger than ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseCompleteBody(body: Buffer): CompletePart[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw tosError('MalformedBody', 'The CompleteMultipartUpload body is not JSON.', cause);
  }
  const parts = (parsed as { Parts?: unknown })?.Parts;
  if (!Array.isArray(parts)) throw tosError('MalformedBody', 'Expected {"Parts":[{"PartNumber":n,"ETag":"…"}]}.');
  return parts.map((p: unknown) => {
    const { PartNumber, ETag } = (p ?? {}) as { PartNumber?: unknown; ETag?: unknown };
    if (typeof PartNumber !== 'number' || typeof ETag !== 'string') throw tosError('MalformedBody', `Expected {"PartNumber":n,"ETag":"…"}, got ${JSON.stringify(p)}.`);
    return { partNumber: PartNumber, etag: ETag };
  });
}

function intParam(query: readonly QueryPair[], name: string, fallback: number): number {
  const raw = queryValue(query, name);
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw tosError('InvalidArgument', `${name} must be a non-negative integer, got ${JSON.stringify(raw)}.`);
  return Number(raw);
}

const OWNER = { ID: 'ark-batch-local', DisplayName: 'ark-batch-local' };

export function createTosHandler(options: TosHandlerOptions): TosHandler {
  const { store } = options;
  const maxCompleteBody = options.maxCompleteBodyBytes ?? DEFAULT_MAX_COMPLETE_BODY;

  return async function handleTos(req, res, context = {}) {
    const requestId = newTosRequestId();
    res.setHeader('x-tos-request-id', requestId);
    res.setHeader('x-tos-id-2', `${requestId}-local`);
    res.setHeader('server', 'TosServer');
    let resource = req.url ?? '/';
    try {
      const parsed = parseTosRequest(req);
      resource = parsed.bucket ? `/${parsed.bucket}${parsed.key ? `/${parsed.key}` : ''}` : '/';
      verifyTosRequest(
        { method: parsed.method, decodedPath: parsed.decodedPath, query: parsed.query, headers: req.headers },
        { accessKey: options.accessKey, secretKey: options.secretKey, region: options.region, securityToken: options.securityToken, now: options.now?.(), maxSkewMs: options.maxSkewMs },
      );
      await dispatch(parsed, req, res, context);
    } catch (err) {
      sendError(req, res, err, requestId, resource);
    }
  };

  async function dispatch(p: ParsedTosRequest, req: IncomingMessage, res: ServerResponse, context: TosRequestContext): Promise<void> {
    const { bucket, key, query } = p;
    switch (p.operation) {
      case 'listBuckets': {
        const buckets = await store.listBuckets();
        return json(res, 200, {
          Owner: OWNER,
          Buckets: buckets.map((b) => ({ Name: b.name, CreationDate: b.created.toISOString(), Location: options.region, ExtranetEndpoint: `tos-${options.region}.volces.com`, IntranetEndpoint: `tos-${options.region}.ivolces.com` })),
        });
      }
      case 'createBucket':
        if (await store.hasBucket(bucket)) throw tosError('BucketAlreadyOwnedByYou');
        await store.createBucket(bucket);
        res.setHeader('location', `/${bucket}`);
        return empty(res, 200);
      case 'headBucket':
        if (!(await store.hasBucket(bucket))) throw tosError('NoSuchBucket');
        res.setHeader('x-tos-bucket-region', options.region);
        res.setHeader('x-tos-storage-class', 'STANDARD');
        res.setHeader('x-tos-az-redundancy', 'single-az');
        return empty(res, 200);
      case 'deleteBucket':
        await store.deleteBucket(bucket);
        return empty(res, 204);
      case 'listObjectsType2':
      case 'listObjects': {
        const v2 = p.operation === 'listObjectsType2';
        const maxKeys = intParam(query, 'max-keys', 1000);
        const prefix = queryValue(query, 'prefix') ?? '';
        const delimiter = queryValue(query, 'delimiter') ?? '';
        const token = queryValue(query, 'continuation-token') || undefined;
        const startAfter = (v2 ? queryValue(query, 'start-after') : queryValue(query, 'marker')) || undefined;
        const page = await store.listObjects(bucket, { prefix, delimiter, maxKeys, continuationToken: v2 ? token : undefined, startAfter });
        const contents = page.objects.map((o) => ({ Key: o.key, LastModified: o.lastModified.toISOString(), ETag: o.etag, Size: o.size, StorageClass: 'STANDARD', Owner: OWNER, HashCrc64ecma: o.crc64 }));
        const common = page.commonPrefixes.map((c) => ({ Prefix: c }));
        const base = { Name: bucket, Prefix: prefix, MaxKeys: maxKeys, Delimiter: delimiter, IsTruncated: page.isTruncated, CommonPrefixes: common, Contents: contents };
        if (v2) {
          return json(res, 200, {
            ...base,
            KeyCount: contents.length + common.length,
            ContinuationToken: token ?? '',
            StartAfter: queryValue(query, 'start-after') ?? '',
            ...(page.nextContinuationToken ? { NextContinuationToken: page.nextContinuationToken } : {}),
          });
        }
        const last = page.isTruncated ? Buffer.from(page.nextContinuationToken ?? '', 'base64url').toString('utf8') : '';
        return json(res, 200, { ...base, Marker: startAfter ?? '', ...(page.isTruncated ? { NextMarker: last } : {}) });
      }
      case 'listMultipartUploads': {
        const maxUploads = intParam(query, 'max-uploads', 1000);
        const prefix = queryValue(query, 'prefix') ?? '';
        const delimiter = queryValue(query, 'delimiter') ?? '';
        const keyMarker = queryValue(query, 'key-marker') ?? '';
        const uploadIdMarker = queryValue(query, 'upload-id-marker') ?? '';
        const page = await store.listMultipartUploads(bucket, { prefix, delimiter, maxUploads, keyMarker, uploadIdMarker });
        return json(res, 200, {
          Bucket: bucket,
          Prefix: prefix,
          Delimiter: delimiter,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
          MaxUploads: maxUploads,
          IsTruncated: page.isTruncated,
          NextKeyMarker: page.nextKeyMarker,
          NextUploadIdMarker: page.nextUploadIdMarker,
          Uploads: page.uploads.map((u) => ({ Key: u.key, UploadId: u.uploadId, Owner: OWNER, StorageClass: 'STANDARD', Initiated: u.initiated.toISOString() })),
          CommonPrefixes: page.commonPrefixes.map((c) => ({ Prefix: c })),
        });
      }
      case 'putObject': {
        const info = await store.putObject(bucket, key, req, { contentType: header(req, 'content-type') || 'application/octet-stream', meta: metaFrom(req), contentMd5: header(req, 'content-md5') });
        res.setHeader('etag', info.etag);
        res.setHeader('x-tos-hash-crc64ecma', info.crc64);
        return empty(res, 200);
      }
      case 'headObject': {
        const info = await store.headObject(bucket, key);
        if (!info) throw tosError('NoSuchKey');
        if (notModified(req, res, info)) return;
        for (const [k, v] of Object.entries(objectHeaders(info))) res.setHeader(k, v);
        res.setHeader('content-length', info.size);
        res.writeHead(200);
        res.end();
        return;
      }
      case 'getObject':
        return getObject(bucket, key, req, res, context);
      case 'deleteObject':
        await drain(req);
        await store.deleteObject(bucket, key);
        return empty(res, 204);
      case 'createMultipartUpload': {
        const upload = await store.createMultipartUpload(bucket, key, { contentType: header(req, 'content-type') || 'application/octet-stream', meta: metaFrom(req) });
        return json(res, 200, { Bucket: bucket, Key: key, UploadId: upload.uploadId });
      }
      case 'uploadPart': {
        const partNumber = intParam(query, 'partNumber', 0);
        const part = await store.uploadPart(bucket, key, queryValue(query, 'uploadId') ?? '', partNumber, req, { contentMd5: header(req, 'content-md5') });
        res.setHeader('etag', part.etag);
        res.setHeader('x-tos-hash-crc64ecma', part.crc64);
        return empty(res, 200);
      }
      case 'completeMultipartUpload': {
        const all = (header(req, 'x-tos-complete-all') ?? '').toLowerCase() === 'yes';
        const body = await readSmallBody(req, maxCompleteBody);
        const uploadId = queryValue(query, 'uploadId') ?? '';
        let completed: { partNumber: number; etag: string }[] | undefined;
        if (all) {
          const listed = await store.listParts(bucket, key, uploadId, { maxParts: 1000 });
          completed = [...listed.parts];
          for (let marker = listed.nextPartNumberMarker, more = listed.isTruncated; more; ) {
            const next = await store.listParts(bucket, key, uploadId, { maxParts: 1000, partNumberMarker: marker });
            completed.push(...next.parts);
            marker = next.nextPartNumberMarker;
            more = next.isTruncated;
          }
        }
        const info = await store.completeMultipartUpload(bucket, key, uploadId, all ? 'all' : parseCompleteBody(body));
        res.setHeader('etag', info.etag);
        res.setHeader('x-tos-hash-crc64ecma', info.crc64);
        const location = `http://${header(req, 'host') ?? '127.0.0.1'}/${p.virtualHost ? '' : `${bucket}/`}${encodeURIComponent(key).replace(/%2F/g, '/')}`;
        return json(res, 200, {
          Bucket: bucket,
          Key: key,
          ETag: info.etag,
          Location: location,
          HashCrc64ecma: info.crc64,
          ...(completed ? { CompletedParts: completed.map((c) => ({ PartNumber: c.partNumber, ETag: c.etag })) } : {}),
        });
      }
      case 'abortMultipartUpload':
        await drain(req);
        await store.abortMultipartUpload(bucket, key, queryValue(query, 'uploadId') ?? '');
        return empty(res, 204);
      case 'listParts': {
        const uploadId = queryValue(query, 'uploadId') ?? '';
        const maxParts = intParam(query, 'max-parts', 1000);
        const marker = intParam(query, 'part-number-marker', 0);
        const page = await store.listParts(bucket, key, uploadId, { maxParts, partNumberMarker: marker });
        return json(res, 200, {
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          PartNumberMarker: marker,
          NextPartNumberMarker: page.nextPartNumberMarker,
          MaxParts: maxParts,
          IsTruncated: page.isTruncated,
          StorageClass: 'STANDARD',
          Owner: OWNER,
          Parts: page.parts.map((part) => ({ PartNumber: part.partNumber, LastModified: part.lastModified.toISOString(), ETag: part.etag, Size: part.size, HashCrc64ecma: part.crc64 })),
        });
      }
      case 'unsupported':
        throw tosError('NotImplemented', `${p.method} ${p.decodedPath} with query [${p.query.map((q) => q.key).join(',')}] is not supported by the local service.`);
    }
  }

  async function getObject(bucket: string, key: string, req: IncomingMessage, res: ServerResponse, context: TosRequestContext): Promise<void> {
    let found: { info: StoredObjectInfo; body: Readable } | null = null;
    let range: { start: number; end: number } | null = null;
    // The preconditions and the range are judged on the version that is actually opened:
    // an overwrite between the look-up and the open means judging again.
    for (let attempt = 0; !found; attempt++) {
      const info = await store.headObject(bucket, key);
      if (!info) throw tosError('NoSuchKey');
      if (notModified(req, res, info)) return;
      const parsed = parseRange(header(req, 'range'), info.size);
      if (parsed === 'unsatisfiable') {
        res.setHeader('content-range', `bytes */${info.size}`);
        throw tosError('InvalidRange');
      }
      range = parsed;
      found = await store.getObject(bucket, key, range ?? undefined);
      if (found && found.info.etag !== info.etag && attempt < 3) {
        found.body.destroy();
        found = null;
      } else if (!found) throw tosError('NoSuchKey');
    }
    for (const [k, v] of Object.entries(objectHeaders(found.info))) res.setHeader(k, v);
    if (range) {
      res.setHeader('content-range', `bytes ${range.start}-${range.end}/${found.info.size}`);
      res.setHeader('content-length', range.end - range.start + 1);
      res.writeHead(206);
    } else {
      res.setHeader('content-length', found.info.size);
      res.writeHead(200);
    }
    if (context.resetMidBody) return sendThenReset(found.body, res, Math.floor((range ? range.end - range.start + 1 : found.info.size) / 2));
    await pipeline(found.body, res);
  }
}

function etagList(value: string | undefined): string[] | null {
  if (value === undefined) return null;
  return value.split(',').map((v) => v.trim().replace(/^W\//, ''));
}

/**
 * If-Match / If-None-Match on GET and HEAD: a failed If-Match throws PreconditionFailed (412);
 * a matching If-None-Match answers 304 here and returns true. Download resumers rely on If-Match
 * to notice that an object changed between ranges.
 */
function notModified(req: IncomingMessage, res: ServerResponse, info: StoredObjectInfo): boolean {
  const ifMatch = etagList(header(req, 'if-match'));
  if (ifMatch && !ifMatch.includes('*') && !ifMatch.includes(info.etag)) throw tosError('PreconditionFailed', `If-Match ${ifMatch.join(',')} does not match ${info.etag}.`);
  const ifNoneMatch = etagList(header(req, 'if-none-match'));
  if (ifNoneMatch && (ifNoneMatch.includes('*') || ifNoneMatch.includes(info.etag))) {
    res.writeHead(304, { etag: info.etag, 'last-modified': info.lastModified.toUTCString() });
    res.end();
    return true;
  }
  return false;
}

/** Sends the first `limit` bytes of `body`, then destroys the socket: a connection reset mid-download. */
async function sendThenReset(body: Readable, res: ServerResponse, limit: number): Promise<void> {
  res.flushHeaders();
  let sent = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    const room = limit - sent;
    if (buf.length >= room) {
      if (room > 0) res.write(buf.subarray(0, room));
      break;
    }
    sent += buf.length;
    if (!res.write(buf)) await new Promise((resolve) => res.once('drain', resolve));
  }
  body.destroy();
  // Let the partial bytes reach the wire before the reset.
  await new Promise<void>((resolve) => setImmediate(resolve));
  res.socket?.resetAndDestroy?.();
  res.destroy();
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) {
    // DELETE carries `{}` from the SDK; its content does not matter.
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function empty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': 0 });
  res.end();
}

/** A TOS JSON error (or headers only for HEAD); the request body, if unread, is discarded. */
export function sendTosError(req: IncomingMessage, res: ServerResponse, wire: { status: number; code: string; message: string; ec: string }, requestId: string, resource: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.setHeader('x-tos-request-id', requestId);
  res.setHeader('x-tos-ec', wire.ec);
  if (!req.complete) req.resume();
  if (req.method === 'HEAD') {
    res.writeHead(wire.status, { 'content-type': 'application/json' });
    res.end();
    return;
  }
  json(res, wire.status, { Code: wire.code, Message: wire.message, RequestId: requestId, HostId: 'ark-batch-local', Resource: resource, EC: wire.ec });
}

function sendError(req: IncomingMessage, res: ServerResponse, err: unknown, requestId: string, resource: string): void {
  sendTosError(req, res, tosErrorWire(err), requestId, resource);
}
