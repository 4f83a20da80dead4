import type { TosClient } from '@volcengine/tos-sdk';
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArkBatchError } from '../errors.ts';
import { isRetryableTosError, tosError, tosErrorInfo } from './client.ts';
import { crc64FromString, crc64ToString, crc64Update, CRC64_INITIAL } from './crc64.ts';
import { withRetry, type RetryOptions } from './retry.ts';

export interface TosObjectStreamOptions extends RetryOptions {
  readonly client: TosClient;
  readonly bucket: string;
  readonly key: string;
  /** First byte to read. @default 0 */
  readonly rangeStart?: number;
  /** Last byte to read, inclusive. @default the object's last byte */
  readonly rangeEnd?: number;
  /** Bytes read so far, after each chunk (for progress). */
  readonly onProgress?: (bytes: number) => void;
  /** Called before a retry or a resume after a transient failure. */
  readonly onRetry?: (err: ArkBatchError) => void;
}

export interface TosObjectInfo {
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: string;
  /** The server's CRC-64/ECMA, when it sent one. */
  readonly crc64?: string;
}

export interface TosObjectReadable extends Readable {
  /** Size, etag and CRC from HeadObject, once known; rejects if the object cannot be read. */
  readonly info: Promise<TosObjectInfo>;
}

/**
 * An object as a Readable that pulls from TOS only as fast as it is consumed. A transient
 * failure (reset, 5xx, stall) mid-body resumes with a Range request from the next byte,
 * pinned to the first response's ETag so a replaced object is never spliced in. A full-object
 * read is checked against the server's CRC-64 and ends with E_INTEGRITY on a mismatch.
 */
export function tosObjectStream(options: TosObjectStreamOptions): TosObjectReadable {
  let resolveInfo!: (info: TosObjectInfo) => void;
  let rejectInfo!: (err: unknown) => void;
  const info = new Promise<TosObjectInfo>((resolve, reject) => ((resolveInfo = resolve), (rejectInfo = reject)));
  info.catch(() => undefined);
  const source = chunks(options, resolveInfo);
  const stream = Readable.from(
    (async function* () {
      try {
        yield* source;
      } catch (err) {
        rejectInfo(err);
        throw err;
      }
    })(),
    { objectMode: false },
  ) as Readable & { info: Promise<TosObjectInfo> };
  stream.info = info;
  return stream;
}

async function* chunks(options: TosObjectStreamOptions, onInfo: (info: TosObjectInfo) => void): AsyncGenerator<Buffer> {
  const { client, bucket, key } = options;
  const retries = options.retries ?? 5;
  const minDelay = options.retryMinTimeoutMs ?? 200;
  const maxDelay = options.retryMaxTimeoutMs ?? 10_000;
  const head = await withRetry(() => client.headObject({ bucket, key }), options, undefined, (err) => options.onRetry?.(tosError('E_DOWNLOAD', 'HeadObject (retrying)', err))).catch((err) => {
    throw tosError('E_DOWNLOAD', `HeadObject of tos://${bucket}/${key}`, err);
  });
  const h = head.data;
  const size = Number(h['content-length']);
  const object: TosObjectInfo = {
    bucket,
    key,
    size,
    etag: h.etag,
    lastModified: h['last-modified'],
    ...(typeof h['x-tos-hash-crc64ecma'] === 'string' ? { crc64: h['x-tos-hash-crc64ecma'] } : {}),
  };
  onInfo(object);
  const start = options.rangeStart ?? 0;
  const end = Math.min(options.rangeEnd ?? size - 1, size - 1);
  if (start < 0 || (start > end && !(start === 0 && size === 0))) {
    throw new ArkBatchError('E_USAGE', `Expected a byte range within 0-${size - 1}, got ${start}-${options.rangeEnd ?? ''}`);
  }
  const whole = start === 0 && end === size - 1;
  let offset = start;
  let crc = CRC64_INITIAL;
  let failures = 0;
  while (offset <= end) {
    const from = offset;
    const res = await withRetry(
      () => client.getObjectV2({ bucket, key, dataType: 'stream', rangeStart: from, rangeEnd: end, ifMatch: object.etag }),
      options,
      undefined,
      (err) => options.onRetry?.(tosError('E_DOWNLOAD', 'GetObject (retrying)', err)),
    ).catch((err) => {
      (err as { data?: { destroy?: () => void } })?.data?.destroy?.();
      throw tosError('E_DOWNLOAD', `GetObject of tos://${bucket}/${key} from byte ${from}`, err);
    });
    try {
      for await (const chunk of res.data.content as AsyncIterable<Buffer>) {
        const take = Math.min(chunk.length, end + 1 - offset);
        const piece = take === chunk.length ? chunk : chunk.subarray(0, take);
        if (whole) crc = crc64Update(crc, piece);
        offset += take;
        failures = 0;
        options.onProgress?.(offset - start);
        yield piece;
      }
      if (offset <= end) throw Object.assign(new Error('response ended early'), { code: 'ECONNRESET' });
    } catch (err) {
      if (!isRetryableTosError(err) || ++failures > retries) throw tosError('E_DOWNLOAD', `Reading tos://${bucket}/${key} at byte ${offset}`, err);
      options.onRetry?.(tosError('E_DOWNLOAD', `Reading at byte ${offset} (resuming)`, err));
      // Full jitter, as p-retry does for the calls themselves.
      await sleep(Math.random() * Math.min(maxDelay, minDelay * 2 ** failures));
    }
  }
  if (whole && object.crc64 !== undefined && crc64FromString(object.crc64) !== crc) {
    throw new ArkBatchError('E_INTEGRITY', `Downloaded bytes have CRC-64 ${crc64ToString(crc)}, the object has ${object.crc64}`, { file: `tos://${bucket}/${key}` });
  }
}

export interface DownloadResult extends TosObjectInfo {
  readonly bytes: number;
  readonly seconds: number;
}

/**
 * An object into a file via a temp name + rename in the same directory: the file appears
 * only complete and verified, and a failed download leaves nothing behind.
 */
export async function downloadToFile(options: TosObjectStreamOptions & { readonly path: string; readonly signal?: AbortSignal }): Promise<DownloadResult> {
  const started = Date.now();
  const target = path.resolve(options.path);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(4).toString('hex')}.part`);
  const stream = tosObjectStream(options);
  let bytes = 0;
  stream.on('data', (c: Buffer) => (bytes += c.length));
  try {
    await pipeline(stream, createWriteStream(tmp, { flags: 'wx' }), { signal: options.signal });
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    if (err instanceof ArkBatchError || tosErrorInfo(err).status !== undefined) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code && /^E[A-Z]+$/.test(code) && code !== 'ABORT_ERR') throw new ArkBatchError('E_IO', `Cannot write ${options.path}: ${code}`, { file: options.path, cause: err });
    throw err;
  }
  return { ...(await stream.info), bytes, seconds: (Date.now() - started) / 1000 };
}
