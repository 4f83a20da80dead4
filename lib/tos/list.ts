import type { TosClient } from '@volcengine/tos-sdk';
import { tosError } from './client.ts';
import { withRetry, type RetryOptions } from './retry.ts';

export interface ListObjectsOptions extends RetryOptions {
  readonly client: TosClient;
  readonly bucket: string;
  /** @default '' (the whole bucket) */
  readonly prefix?: string;
  /** Group keys below this separator into prefixes (`ls` without --recursive uses '/'). */
  readonly delimiter?: string;
  /** Keys per request. @default 1000 */
  readonly pageSize?: number;
}

export type ListedEntry =
  | { readonly type: 'object'; readonly key: string; readonly size: number; readonly lastModified: string; readonly etag: string; readonly crc64?: string }
  | { readonly type: 'prefix'; readonly key: string };

/** Objects (and common prefixes) under a prefix, page by page, as an async iterable: memory stays one page. */
export async function* listObjects(options: ListObjectsOptions): AsyncGenerator<ListedEntry> {
  const { client, bucket } = options;
  let token: string | undefined;
  for (;;) {
    const input = {
      bucket,
      prefix: options.prefix ?? '',
      maxKeys: options.pageSize ?? 1000,
      // One page per call: the SDK's own loop would gather every page before returning.
      listOnlyOnce: true,
      ...(options.delimiter ? { delimiter: options.delimiter } : {}),
      ...(token ? { continuationToken: token } : {}),
    };
    const page = await withRetry(() => client.listObjectsType2(input), options).catch((err) => {
      throw tosError('E_TOS', `ListObjects of tos://${bucket}/${options.prefix ?? ''}`, err);
    });
    for (const p of page.data.CommonPrefixes) yield { type: 'prefix', key: p.Prefix };
    for (const o of page.data.Contents) {
      yield { type: 'object', key: o.Key, size: Number(o.Size), lastModified: o.LastModified, etag: o.ETag, ...(o.HashCrc64ecma ? { crc64: o.HashCrc64ecma } : {}) };
    }
    if (!page.data.IsTruncated || !page.data.NextContinuationToken) return;
    token = page.data.NextContinuationToken;
  }
}
