import type { TosClient } from '@volcengine/tos-sdk';
import { ArkBatchError } from '../errors.ts';
import { tosError } from './client.ts';
import { listObjects } from './list.ts';
import { withRetry, type RetryOptions } from './retry.ts';

export interface RemovePrefixOptions extends RetryOptions {
  readonly client: TosClient;
  readonly bucket: string;
  /**
   * Everything under this prefix is removed: a scratch prefix that belongs to one caller, such as
   * a bench run's `…/ark-batch-bench/<stamp>-<rand>/`. It must end with `/` and hold at least one
   * more character, so a bucket or a sibling prefix is never touched.
   */
  readonly prefix: string;
}

export interface RemovePrefixResult {
  /** Objects deleted. */
  readonly deleted: number;
  /** Unfinished multipart uploads aborted (their parts are billed storage until then). */
  readonly aborted: number;
}

/**
 * Removes a scratch prefix: aborts the unfinished multipart uploads under it first (a run that
 * died mid-upload leaves one), then deletes its objects, one page at a time. Each call is retried
 * like the transfers are; the first failure that survives its retries stops the sweep.
 */
export async function removePrefix(options: RemovePrefixOptions): Promise<RemovePrefixResult> {
  const { client, bucket, prefix } = options;
  if (!/.\/$/s.test(prefix)) {
    throw new ArkBatchError('E_USAGE', `Expected a scratch prefix ending in / (like dir/ark-batch-bench/run/), got ${JSON.stringify(prefix)}`);
  }
  let aborted = 0;
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const input = { bucket, prefix, maxUploads: 1000, ...(keyMarker ? { keyMarker } : {}), ...(uploadIdMarker ? { uploadIdMarker } : {}) };
    const page = await withRetry(() => client.listMultipartUploads(input), options).catch((err) => {
      throw tosError('E_TOS', `ListMultipartUploads of tos://${bucket}/${prefix}`, err);
    });
    for (const u of page.data.Uploads ?? []) {
      await withRetry(() => client.abortMultipartUpload({ bucket, key: u.Key, uploadId: u.UploadId }), options).catch((err) => {
        // Completed or aborted in the meantime: nothing left to remove.
        if ((err as { statusCode?: number }).statusCode === 404) return;
        throw tosError('E_TOS', `AbortMultipartUpload of tos://${bucket}/${u.Key}`, err);
      });
      aborted++;
    }
    if (!page.data.IsTruncated) break;
    keyMarker = page.data.NextKeyMarker;
    uploadIdMarker = page.data.NextUploadIdMarker;
  }
  let deleted = 0;
  // Deleting while listing is safe with continuation tokens: they point past the last key seen.
  for await (const entry of listObjects({ ...options, client, bucket, prefix })) {
    if (entry.type !== 'object') continue;
    await withRetry(() => client.deleteObject({ bucket, key: entry.key }), options).catch((err) => {
      throw tosError('E_TOS', `DeleteObject of tos://${bucket}/${entry.key}`, err);
    });
    deleted++;
  }
  return { deleted, aborted };
}
