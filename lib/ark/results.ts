/**
 * Downloads a job's results.jsonl / errors.jsonl (located by results-location.ts) with the TOS
 * SDK's `getObjectV2` stream: each file is written to a temp name in the target folder, checked
 * against the object's size and CRC-64 (`x-tos-hash-crc64ecma`), and renamed into place. Kept
 * small on purpose: it moves to the shared `tosObjectStream` once that lands.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TosClient } from '@volcengine/tos-sdk';
import pRetry, { AbortError } from 'p-retry';
import { ArkBatchError } from '../errors.ts';
import { crc64ToString, crc64Update, CRC64_INITIAL } from '../tos/crc64.ts';
import type { ArkJob } from './jobs.ts';
import { locateResults, type ListObjects, type ResultFile } from './results-location.ts';

/** The SDK client (its methods need the real `this`, so no narrower type). */
export type ResultsTosClient = TosClient;

export interface DownloadJobResultsOptions {
  readonly tos: ResultsTosClient;
  /** A job from getJob (listing items lack ErrorFileTosLocation). */
  readonly job: ArkJob;
  /** Folder to write into; created when missing. */
  readonly dir: string;
  readonly signal?: AbortSignal;
  /** Retries of one file after a failed or corrupt download, from the start. @default 3 */
  readonly retries?: number;
  /** Called as each file is in place. */
  readonly onFile?: (file: DownloadedFile) => void;
}

export interface DownloadedFile extends ResultFile {
  readonly path: string;
  readonly bytes: number;
  /** Newline-terminated lines, plus one for a last line without a newline. */
  readonly lines: number;
}

/** Objects under a prefix, page by page (1000 keys each). */
export function tosLister(tos: TosClient): ListObjects {
  return async function* list(bucket, prefix) {
    let token: string | undefined;
    do {
      // The SDK signs keys passed as undefined, so optional ones are added only when set.
      const input = { bucket, prefix, maxKeys: 1000, listOnlyOnce: true, ...(token ? { continuationToken: token } : {}) };
      const { data } = await tos.listObjectsType2(input).catch((err: unknown) => {
        throw tosError(`listing tos://${bucket}/${prefix} failed`, err);
      });
      for (const item of data.Contents ?? []) yield { key: item.Key, size: item.Size };
      token = data.IsTruncated ? data.NextContinuationToken : undefined;
    } while (token);
  };
}

export async function downloadJobResults(options: DownloadJobResultsOptions): Promise<DownloadedFile[]> {
  const files = await locateResults(options.job, tosLister(options.tos));
  await mkdir(options.dir, { recursive: true });
  const done: DownloadedFile[] = [];
  for (const file of files) {
    const got = await pRetry(
      async () => {
        try {
          return await downloadOne(options, file);
        } catch (err) {
          const retryable = err instanceof ArkBatchError && (err.code === 'E_INTEGRITY' || err.code === 'E_DOWNLOAD') && !(err.status !== undefined && err.status < 500);
          if (!retryable || options.signal?.aborted) throw new AbortError(err as Error);
          throw err;
        }
      },
      { retries: options.retries ?? 3, minTimeout: 200, maxTimeout: 5000, randomize: true, signal: options.signal },
    );
    if (got) {
      done.push(got);
      options.onFile?.(got);
    }
  }
  return done;
}

/** One file to `dir/localName`, or undefined when an unlisted errors file does not exist. */
async function downloadOne(options: DownloadJobResultsOptions, file: ResultFile): Promise<DownloadedFile | undefined> {
  const uri = `tos://${file.bucket}/${file.key}`;
  let res: Awaited<ReturnType<ResultsTosClient['getObjectV2']>>;
  try {
    res = await options.tos.getObjectV2({ bucket: file.bucket, key: file.key, dataType: 'stream' });
  } catch (err) {
    if (!file.listed && (err as { statusCode?: number }).statusCode === 404) return undefined;
    throw tosError(`downloading ${uri} failed`, err);
  }
  const content = res.data.content as NodeJS.ReadableStream & AsyncIterable<Buffer>;
  const expectedCrc = res.data.hashCrc64ecma || String(res.headers['x-tos-hash-crc64ecma'] ?? '');
  const expectedBytes = res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']);
  const path = join(options.dir, file.localName);
  const temp = join(options.dir, `.${file.localName}.${randomBytes(4).toString('hex')}.part`);
  const fh = await open(temp, 'w');
  let crc = CRC64_INITIAL;
  let bytes = 0;
  let lines = 0;
  let lastByte = 0x0a;
  try {
    try {
      for await (const chunk of content) {
        options.signal?.throwIfAborted();
        crc = crc64Update(crc, chunk);
        bytes += chunk.length;
        for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
        lastByte = chunk[chunk.length - 1] ?? lastByte;
        await fh.write(chunk);
      }
    } catch (err) {
      if (options.signal?.aborted) throw new ArkBatchError('E_ABORTED', `download of ${uri} aborted`, { cause: err });
      if (err instanceof ArkBatchError) throw err;
      // The socket broke mid-body; the write side errors are disk problems, not the network's.
      const isDisk = typeof (err as NodeJS.ErrnoException).syscall === 'string' && (err as NodeJS.ErrnoException).syscall !== 'read';
      throw new ArkBatchError(isDisk ? 'E_IO' : 'E_DOWNLOAD', `downloading ${uri} failed after ${bytes} bytes: ${(err as Error).message}`, { file: path, cause: err });
    } finally {
      (content as unknown as { destroy?: () => void }).destroy?.();
    }
    if (expectedBytes !== undefined && bytes !== expectedBytes) {
      throw new ArkBatchError('E_INTEGRITY', `${uri}: got ${bytes} bytes, expected ${expectedBytes}`, { file: path });
    }
    if (expectedCrc && crc64ToString(crc) !== expectedCrc) {
      throw new ArkBatchError('E_INTEGRITY', `${uri}: CRC-64 ${crc64ToString(crc)} does not match x-tos-hash-crc64ecma ${expectedCrc}`, { file: path });
    }
    await fh.sync();
    await fh.close();
    await rename(temp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
  if (bytes > 0 && lastByte !== 0x0a) lines++;
  return { ...file, path, bytes, lines };
}

function tosError(what: string, err: unknown): ArkBatchError {
  const e = err as { statusCode?: number; code?: string; requestId?: string; message?: string };
  return new ArkBatchError('E_DOWNLOAD', `${what}: ${e.code ?? (e.statusCode ? `HTTP ${e.statusCode}` : '')} ${e.message ?? String(err)}`.trim(), {
    status: e.statusCode,
    remoteCode: e.code,
    requestId: e.requestId,
    cause: err,
  });
}
