import type { Readable } from 'node:stream';
import type { ObjectStore, PutOptions, StoredObjectInfo } from './store-types.ts';

/** One uploaded part of an unfinished multipart upload. */
export interface StoredPartInfo {
  readonly partNumber: number;
  /** Quoted md5 of the part, as TOS sends it. */
  readonly etag: string;
  readonly size: number;
  /** CRC-64/ECMA of the part as an unsigned decimal string. */
  readonly crc64: string;
  readonly lastModified: Date;
}

export interface MultipartUploadInfo {
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
  readonly initiated: Date;
  readonly contentType: string;
  readonly meta: Readonly<Record<string, string>>;
}

export interface PartsPage {
  readonly parts: readonly StoredPartInfo[];
  readonly isTruncated: boolean;
  /** Pass as `partNumberMarker` to get the next page. */
  readonly nextPartNumberMarker: number;
}

export interface UploadsPage {
  readonly uploads: readonly MultipartUploadInfo[];
  readonly commonPrefixes: readonly string[];
  readonly isTruncated: boolean;
  readonly nextKeyMarker: string;
  readonly nextUploadIdMarker: string;
}

export interface BucketInfo {
  readonly name: string;
  readonly created: Date;
}

/** A part named by the client in CompleteMultipartUpload. */
export interface CompletePart {
  readonly partNumber: number;
  /** Quoted or bare; compared without quotes. */
  readonly etag: string;
}

/**
 * The object store plus the multipart state the TOS protocol needs. Unfinished uploads are
 * kept on disk like objects, so they survive a restart of the service.
 */
/** What a client may assert about a body it sends; a mismatch rejects the write. */
export interface IntegrityOptions {
  /** Base64 of the body's md5, from the `Content-MD5` header: malformed → InvalidDigest, mismatch → BadDigest. */
  readonly contentMd5?: string;
}

export interface MultipartStore extends ObjectStore {
  putObject(bucket: string, key: string, body: Readable | Buffer, options?: PutOptions & IntegrityOptions): Promise<StoredObjectInfo>;
  listBuckets(): Promise<BucketInfo[]>;
  /** Missing bucket: NoSuchBucket; objects or uploads left: BucketNotEmpty. */
  deleteBucket(bucket: string): Promise<void>;
  createMultipartUpload(bucket: string, key: string, options?: PutOptions): Promise<MultipartUploadInfo>;
  /** Re-uploading a part number replaces the part. Unknown upload: NoSuchUpload. */
  uploadPart(bucket: string, key: string, uploadId: string, partNumber: number, body: Readable | Buffer, options?: IntegrityOptions): Promise<StoredPartInfo>;
  listParts(bucket: string, key: string, uploadId: string, options?: { maxParts?: number; partNumberMarker?: number }): Promise<PartsPage>;
  /**
   * Concatenates the named parts (any order; sorted by number) into the object, or every
   * uploaded part when `parts` is 'all'. The object's CRC is combined from the parts' CRCs.
   */
  completeMultipartUpload(bucket: string, key: string, uploadId: string, parts: readonly CompletePart[] | 'all'): Promise<StoredObjectInfo>;
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
  listMultipartUploads(
    bucket: string,
    options?: { prefix?: string; delimiter?: string; maxUploads?: number; keyMarker?: string; uploadIdMarker?: string },
  ): Promise<UploadsPage>;
}
