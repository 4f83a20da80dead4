/** A small in-memory ObjectStore for unit tests of the job runner and OpenAPI handler. */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ListPage, ObjectStore, PutOptions, StoredObjectInfo } from '../../lib/local/store-types.ts';

export interface MemoryStore extends ObjectStore {
  /** The object's bytes as text, or undefined. */
  text(bucket: string, key: string): string | undefined;
  keys(bucket: string): string[];
}

export function memoryStore(): MemoryStore {
  const buckets = new Map<string, Map<string, { data: Buffer; info: StoredObjectInfo }>>();
  const bucketOf = (b: string) => {
    const m = buckets.get(b);
    if (!m) throw Object.assign(new Error(`NoSuchBucket ${b}`), { code: 'NoSuchBucket' });
    return m;
  };
  return {
    async createBucket(b) {
      if (!buckets.has(b)) buckets.set(b, new Map());
    },
    async hasBucket(b) {
      return buckets.has(b);
    },
    async putObject(bucket, key, body, options: PutOptions = {}) {
      const m = bucketOf(bucket);
      const chunks: Buffer[] = [];
      if (Buffer.isBuffer(body)) chunks.push(body);
      else for await (const c of body) chunks.push(Buffer.from(c));
      const data = Buffer.concat(chunks);
      const info: StoredObjectInfo = {
        bucket,
        key,
        size: data.length,
        etag: `"${createHash('md5').update(data).digest('hex')}"`,
        crc64: '0',
        lastModified: new Date(),
        contentType: options.contentType ?? 'application/octet-stream',
        meta: { ...(options.meta ?? {}) },
      };
      m.set(key, { data, info });
      return info;
    },
    async headObject(bucket, key) {
      return buckets.get(bucket)?.get(key)?.info ?? null;
    },
    async getObject(bucket, key, range) {
      const o = buckets.get(bucket)?.get(key);
      if (!o) return null;
      const data = range ? o.data.subarray(range.start, range.end + 1) : o.data;
      // Small chunks so line framing across chunk boundaries is exercised.
      const parts: Buffer[] = [];
      for (let i = 0; i < data.length; i += 7) parts.push(data.subarray(i, i + 7));
      return { info: o.info, body: Readable.from(parts) };
    },
    async deleteObject(bucket, key) {
      buckets.get(bucket)?.delete(key);
    },
    async listObjects(bucket, { prefix = '' }): Promise<ListPage> {
      const objects = [...bucketOf(bucket).values()].filter((o) => o.info.key.startsWith(prefix)).map((o) => o.info);
      objects.sort((a, b) => (a.key < b.key ? -1 : 1));
      return { objects, commonPrefixes: [], isTruncated: false };
    },
    text(bucket, key) {
      return buckets.get(bucket)?.get(key)?.data.toString('utf8');
    },
    keys(bucket) {
      return [...(buckets.get(bucket)?.keys() ?? [])].sort();
    },
  };
}
