import type { Readable } from 'node:stream';

/**
 * The local service's object store: what the TOS protocol layer and the job runner share.
 * Objects live on disk under the data dir and every write is atomic (temp file + rename).
 */
export interface StoredObjectInfo {
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
  /** Quoted, as TOS sends it: `"<md5>"` or `"<md5-of-md5s>-N"` for multipart objects. */
  readonly etag: string;
  /** CRC-64/ECMA (XZ) of the whole object as an unsigned decimal string. */
  readonly crc64: string;
  readonly lastModified: Date;
  readonly contentType: string;
  readonly meta: Readonly<Record<string, string>>;
}

export interface PutOptions {
  readonly contentType?: string;
  readonly meta?: Readonly<Record<string, string>>;
}

export interface ListPage {
  readonly objects: readonly StoredObjectInfo[];
  readonly commonPrefixes: readonly string[];
  readonly isTruncated: boolean;
  readonly nextContinuationToken?: string;
}

export interface ObjectStore {
  createBucket(bucket: string): Promise<void>;
  hasBucket(bucket: string): Promise<boolean>;
  /** Streams `body` to a temp file, then renames it into place. Missing bucket: throws NoSuchBucket. */
  putObject(bucket: string, key: string, body: Readable | Buffer, options?: PutOptions): Promise<StoredObjectInfo>;
  /** null when the object does not exist. */
  headObject(bucket: string, key: string): Promise<StoredObjectInfo | null>;
  /** Inclusive byte range; null when the object does not exist. */
  getObject(bucket: string, key: string, range?: { start: number; end: number }): Promise<{ info: StoredObjectInfo; body: Readable } | null>;
  deleteObject(bucket: string, key: string): Promise<void>;
  listObjects(bucket: string, options: { prefix?: string; delimiter?: string; maxKeys?: number; continuationToken?: string; startAfter?: string }): Promise<ListPage>;
}
