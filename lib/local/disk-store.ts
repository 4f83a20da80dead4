import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CRC64_INITIAL, crc64Combine, crc64FromString, crc64ToString, crc64Update } from '../tos/crc64.ts';
import type { CompletePart, IntegrityOptions, MultipartStore, MultipartUploadInfo, StoredPartInfo, UploadsPage, PartsPage, BucketInfo } from './multipart-types.ts';
import type { ListPage, PutOptions, StoredObjectInfo } from './store-types.ts';
import { tosError } from './tos-errors.ts';

/**
 * The local service's object store on disk.
 *
 * Layout under the data dir:
 *   tmp/                                   in-flight writes; emptied when the store opens
 *   buckets/<bucket>/bucket.json           creation time
 *   buckets/<bucket>/objects/<h>.json      sidecar: key, size, etag, crc64, type, meta, data file
 *   buckets/<bucket>/objects/<h>.<r>.bin   the bytes (h = sha256 of the key, r = random)
 *   buckets/<bucket>/uploads/<id>/upload.json, part-<n>.json, part-<n>.<r>.bin
 *
 * Keys never become paths (they are hashed), so no key can escape the data dir whatever it
 * contains; key rules are still enforced so clients see TOS's errors. The sidecar rename is the
 * commit point of every write: the data file is complete and fsynced before the sidecar that
 * names it appears, so a crash at any moment leaves either the old object or the new one.
 */

export interface DiskStoreOptions {
  /** Smallest size of every part but the last at complete time (TOS: 5 MiB). @default 5 MiB */
  readonly minPartSize?: number;
  /** Largest object or part body accepted. @default 5 GiB */
  readonly maxObjectSize?: number;
  /** Longest key in UTF-8 bytes. @default 1024 */
  readonly maxKeyBytes?: number;
}

export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_NUMBER = 10_000;
const DEFAULT_MAX_OBJECT_SIZE = 5 * 1024 ** 3;
const DEFAULT_MAX_KEY_BYTES = 1024;
const BUCKET_RE = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const UPLOAD_ID_RE = /^[0-9a-f]{32}$/;

interface Sidecar {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly crc64: string;
  readonly lastModified: string;
  readonly contentType: string;
  readonly meta: Record<string, string>;
  readonly dataFile: string;
}

interface PartSidecar {
  readonly partNumber: number;
  readonly etag: string;
  readonly size: number;
  readonly crc64: string;
  readonly lastModified: string;
  readonly dataFile: string;
}

interface UploadRecord {
  readonly key: string;
  readonly uploadId: string;
  readonly initiated: string;
  readonly contentType: string;
  readonly meta: Record<string, string>;
}

interface IndexEntry {
  readonly sidecar: Sidecar;
  readonly keyBytes: Buffer;
}

interface BucketIndex {
  readonly entries: Map<string, IndexEntry>;
  /** Entries ordered by the UTF-8 bytes of the key, rebuilt lazily after a write. */
  sorted: IndexEntry[] | null;
}

export function validateBucketName(bucket: string): void {
  if (!BUCKET_RE.test(bucket)) throw tosError('InvalidBucketName', `Bucket name ${JSON.stringify(bucket)} must be 3-63 characters of a-z, 0-9 and '-', not starting or ending with '-'.`);
}

/** TOS's key rules, plus the ones that would let a path-mirroring store escape its directory. */
export function validateKey(key: string, maxKeyBytes = DEFAULT_MAX_KEY_BYTES): void {
  if (key.length === 0) throw tosError('InvalidObjectName', 'The object key is empty.');
  if (Buffer.byteLength(key, 'utf8') > maxKeyBytes) throw tosError('KeyTooLong', `The object key is longer than ${maxKeyBytes} bytes.`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw tosError('InvalidObjectName', 'The object key contains a control character.');
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(key)) throw tosError('InvalidObjectName', 'The object key is not valid UTF-8.');
  if (key.startsWith('/') || key.startsWith('\\')) throw tosError('InvalidObjectName', 'The object key must not start with / or \\.');
  if (key.split(/[/\\]/).some((segment) => segment === '..')) throw tosError('InvalidObjectName', 'The object key must not contain a .. segment.');
}

function compareBytes(a: Buffer, b: Buffer): number {
  return Buffer.compare(a, b);
}

function quoteEtag(hex: string): string {
  return `"${hex}"`;
}

function unquote(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function toInfo(bucket: string, s: Sidecar): StoredObjectInfo {
  return { bucket, key: s.key, size: s.size, etag: s.etag, crc64: s.crc64, lastModified: new Date(s.lastModified), contentType: s.contentType, meta: { ...s.meta } };
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

async function unlinkIfPresent(file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** A promise chain per name: commits to one key (or upload) run one at a time. */
function createLocks(): <T>(name: string, fn: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>();
  return async (name, fn) => {
    const prev = tails.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    tails.set(name, tail);
    try {
      return await run;
    } finally {
      if (tails.get(name) === tail) tails.delete(name);
    }
  };
}

export function createDiskStore(dataDir: string, options: DiskStoreOptions = {}): MultipartStore {
  const minPartSize = options.minPartSize ?? MIN_PART_SIZE;
  const maxObjectSize = options.maxObjectSize ?? DEFAULT_MAX_OBJECT_SIZE;
  const maxKeyBytes = options.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES;
  const root = path.resolve(dataDir);
  const tmpDir = path.join(root, 'tmp');
  const bucketsDir = path.join(root, 'buckets');
  const indexes = new Map<string, Promise<BucketIndex>>();
  const withLock = createLocks();
  let ready: Promise<void> | null = null;

  const bucketDir = (bucket: string) => path.join(bucketsDir, bucket);
  const objectsDir = (bucket: string) => path.join(bucketDir(bucket), 'objects');
  const uploadsDir = (bucket: string) => path.join(bucketDir(bucket), 'uploads');
  const uploadDir = (bucket: string, uploadId: string) => path.join(uploadsDir(bucket), uploadId);
  const keyHash = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');
  const rand = () => randomBytes(8).toString('hex');

  function init(): Promise<void> {
    ready ??= (async () => {
      // Anything in tmp/ is a write that never committed (crash, kill -9): drop it.
      await fs.rm(tmpDir, { recursive: true, force: true });
      await fs.mkdir(tmpDir, { recursive: true });
      await fs.mkdir(bucketsDir, { recursive: true });
    })();
    return ready;
  }

  async function writeFileAtomic(target: string, text: string): Promise<void> {
    const tmp = path.join(tmpDir, `${rand()}.json`);
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, target);
  }

  /** Streams a body into a new temp file, hashing as it goes; removes the file on failure. */
  async function spool(body: Readable | Buffer, limit: number, integrity: IntegrityOptions = {}): Promise<{ tmp: string; size: number; md5: Buffer; crc: bigint }> {
    // Checked before reading the body, as TOS does, so a malformed header costs no upload.
    const expectedMd5 = integrity.contentMd5 === undefined ? undefined : Buffer.from(integrity.contentMd5, 'base64');
    if (expectedMd5 && (expectedMd5.length !== 16 || expectedMd5.toString('base64') !== integrity.contentMd5)) throw tosError('InvalidDigest');
    await init();
    const tmp = path.join(tmpDir, `${rand()}.bin`);
    const md5 = createHash('md5');
    let crc = CRC64_INITIAL;
    let size = 0;
    const fh = await fs.open(tmp, 'w');
    try {
      const write = async (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) throw tosError('EntityTooLarge', `The body is larger than ${limit} bytes.`);
        md5.update(chunk);
        crc = crc64Update(crc, chunk);
        await fh.write(chunk);
      };
      if (Buffer.isBuffer(body)) await write(body);
      else for await (const chunk of body) await write(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
      await fh.sync();
    } catch (err) {
      await fh.close();
      await unlinkIfPresent(tmp);
      throw err;
    }
    await fh.close();
    const digest = md5.digest();
    if (expectedMd5 && !expectedMd5.equals(digest)) {
      await unlinkIfPresent(tmp);
      throw tosError('BadDigest');
    }
    return { tmp, size, md5: digest, crc };
  }

  async function loadIndex(bucket: string): Promise<BucketIndex> {
    const dir = objectsDir(bucket);
    const entries = new Map<string, IndexEntry>();
    const names = await fs.readdir(dir);
    const referenced = new Set<string>();
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const sidecar = await readJson<Sidecar>(path.join(dir, name));
      if (!sidecar) continue;
      referenced.add(sidecar.dataFile);
      entries.set(sidecar.key, { sidecar, keyBytes: Buffer.from(sidecar.key, 'utf8') });
    }
    // Data files no sidecar names are leftovers of a crash between rename and cleanup.
    for (const name of names) if (name.endsWith('.bin') && !referenced.has(name)) await unlinkIfPresent(path.join(dir, name));
    return { entries, sorted: null };
  }

  /** The bucket's index, or NoSuchBucket. */
  async function index(bucket: string): Promise<BucketIndex> {
    validateBucketName(bucket);
    await init();
    let pending = indexes.get(bucket);
    if (!pending) {
      if (!(await exists(bucket))) throw tosError('NoSuchBucket', `The specified bucket ${bucket} does not exist.`);
      pending = loadIndex(bucket);
      indexes.set(bucket, pending);
      pending.catch(() => indexes.delete(bucket));
    }
    return pending;
  }

  async function exists(bucket: string): Promise<boolean> {
    try {
      await fs.access(path.join(bucketDir(bucket), 'bucket.json'));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  function sortedEntries(idx: BucketIndex): IndexEntry[] {
    idx.sorted ??= [...idx.entries.values()].sort((a, b) => compareBytes(a.keyBytes, b.keyBytes));
    return idx.sorted;
  }

  /** Moves a spooled file into the bucket and publishes it under `key`; the sidecar rename commits. */
  async function commitObject(bucket: string, key: string, tmp: string, fields: Omit<Sidecar, 'key' | 'dataFile' | 'lastModified'>): Promise<StoredObjectInfo> {
    const idx = await index(bucket);
    const h = keyHash(key);
    const dataFile = `${h}.${rand()}.bin`;
    await fs.rename(tmp, path.join(objectsDir(bucket), dataFile));
    return withLock(`${bucket}\0${key}`, async () => {
      const sidecar: Sidecar = { key, dataFile, lastModified: new Date().toISOString(), ...fields };
      await writeFileAtomic(path.join(objectsDir(bucket), `${h}.json`), JSON.stringify(sidecar));
      const old = idx.entries.get(key);
      idx.entries.set(key, { sidecar, keyBytes: Buffer.from(key, 'utf8') });
      idx.sorted = null;
      if (old && old.sidecar.dataFile !== dataFile) await unlinkIfPresent(path.join(objectsDir(bucket), old.sidecar.dataFile));
      return toInfo(bucket, sidecar);
    });
  }

  async function readUpload(bucket: string, key: string, uploadId: string): Promise<UploadRecord> {
    await index(bucket);
    if (!UPLOAD_ID_RE.test(uploadId)) throw tosError('NoSuchUpload', `Upload ${JSON.stringify(uploadId)} does not exist.`);
    const record = await readJson<UploadRecord>(path.join(uploadDir(bucket, uploadId), 'upload.json'));
    if (!record || record.key !== key) throw tosError('NoSuchUpload', `Upload ${uploadId} does not exist for this key.`);
    return record;
  }

  async function readParts(bucket: string, uploadId: string): Promise<PartSidecar[]> {
    const dir = uploadDir(bucket, uploadId);
    const parts: PartSidecar[] = [];
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    for (const name of names) {
      if (!/^part-\d+\.json$/.test(name)) continue;
      const part = await readJson<PartSidecar>(path.join(dir, name));
      if (part) parts.push(part);
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  const partInfo = (p: PartSidecar): StoredPartInfo => ({ partNumber: p.partNumber, etag: p.etag, size: p.size, crc64: p.crc64, lastModified: new Date(p.lastModified) });

  async function openEntry(bucket: string, key: string): Promise<{ entry: IndexEntry; fh: FileHandle } | null> {
    const idx = await index(bucket);
    // A concurrent overwrite may unlink the data file between lookup and open: look again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const entry = idx.entries.get(key);
      if (!entry) return null;
      try {
        return { entry, fh: await fs.open(path.join(objectsDir(bucket), entry.sidecar.dataFile), 'r') };
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    throw tosError('InternalError', 'The object changed repeatedly while it was being opened.');
  }

  return {
    async createBucket(bucket) {
      validateBucketName(bucket);
      await init();
      if (await exists(bucket)) return;
      await fs.mkdir(objectsDir(bucket), { recursive: true });
      await fs.mkdir(uploadsDir(bucket), { recursive: true });
      await writeFileAtomic(path.join(bucketDir(bucket), 'bucket.json'), JSON.stringify({ created: new Date().toISOString() }));
    },

    async hasBucket(bucket) {
      if (!BUCKET_RE.test(bucket)) return false;
      await init();
      return exists(bucket);
    },

    async listBuckets(): Promise<BucketInfo[]> {
      await init();
      const out: BucketInfo[] = [];
      for (const name of (await fs.readdir(bucketsDir)).sort()) {
        const meta = await readJson<{ created: string }>(path.join(bucketsDir, name, 'bucket.json'));
        if (meta) out.push({ name, created: new Date(meta.created) });
      }
      return out;
    },

    async deleteBucket(bucket) {
      const idx = await index(bucket);
      if (idx.entries.size > 0 || (await fs.readdir(uploadsDir(bucket))).length > 0) throw tosError('BucketNotEmpty');
      indexes.delete(bucket);
      await fs.rm(bucketDir(bucket), { recursive: true, force: true });
    },

    async putObject(bucket, key, body, putOptions: PutOptions & IntegrityOptions = {}) {
      validateKey(key, maxKeyBytes);
      await index(bucket);
      const spooled = await spool(body, maxObjectSize, putOptions);
      try {
        return await commitObject(bucket, key, spooled.tmp, {
          size: spooled.size,
          etag: quoteEtag(spooled.md5.toString('hex')),
          crc64: crc64ToString(spooled.crc),
          contentType: putOptions.contentType ?? 'application/octet-stream',
          meta: { ...putOptions.meta },
        });
      } finally {
        await unlinkIfPresent(spooled.tmp);
      }
    },

    async headObject(bucket, key) {
      validateKey(key, maxKeyBytes);
      const entry = (await index(bucket)).entries.get(key);
      return entry ? toInfo(bucket, entry.sidecar) : null;
    },

    async getObject(bucket, key, range) {
      validateKey(key, maxKeyBytes);
      const opened = await openEntry(bucket, key);
      if (!opened) return null;
      const info = toInfo(bucket, opened.entry.sidecar);
      if (range && (range.start < 0 || range.end < range.start || range.end >= info.size)) {
        await opened.fh.close();
        throw tosError('InvalidRange', `Range ${range.start}-${range.end} is outside 0-${info.size - 1}.`);
      }
      const body = opened.fh.createReadStream(range ? { start: range.start, end: range.end } : {});
      return { info, body };
    },

    async deleteObject(bucket, key) {
      validateKey(key, maxKeyBytes);
      const idx = await index(bucket);
      await withLock(`${bucket}\0${key}`, async () => {
        const entry = idx.entries.get(key);
        if (!entry) return;
        await unlinkIfPresent(path.join(objectsDir(bucket), `${keyHash(key)}.json`));
        idx.entries.delete(key);
        idx.sorted = null;
        await unlinkIfPresent(path.join(objectsDir(bucket), entry.sidecar.dataFile));
      });
    },

    async listObjects(bucket, listOptions): Promise<ListPage> {
      const idx = await index(bucket);
      const prefix = listOptions.prefix ?? '';
      const delimiter = listOptions.delimiter ?? '';
      const maxKeys = Math.max(0, Math.min(listOptions.maxKeys ?? 1000, 1000));
      let marker = listOptions.startAfter ?? '';
      if (listOptions.continuationToken) {
        const fromToken = Buffer.from(listOptions.continuationToken, 'base64url').toString('utf8');
        if (Buffer.compare(Buffer.from(fromToken), Buffer.from(marker)) > 0) marker = fromToken;
      }
      const sorted = sortedEntries(idx);
      const markerBytes = Buffer.from(marker, 'utf8');
      // A marker holding the delimiter after the prefix was a common prefix: skip everything under it.
      const skipUnder = delimiter && marker.startsWith(prefix) && marker.indexOf(delimiter, prefix.length) >= 0 ? marker : null;
      const prefixBytes = Buffer.from(prefix, 'utf8');
      // First index past the marker and not before the prefix: keys under a prefix are contiguous.
      const firstAfter = (bound: Buffer, inclusive: boolean) => {
        let lo = 0;
        let hi = sorted.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          const cmp = compareBytes(sorted[mid].keyBytes, bound);
          if (cmp < 0 || (cmp === 0 && !inclusive)) lo = mid + 1;
          else hi = mid;
        }
        return lo;
      };
      const lo = Math.max(firstAfter(markerBytes, false), firstAfter(prefixBytes, true));
      const objects: StoredObjectInfo[] = [];
      const commonPrefixes: string[] = [];
      let last = '';
      let isTruncated = false;
      for (let i = lo; i < sorted.length; i++) {
        const key = sorted[i].sidecar.key;
        if (!key.startsWith(prefix)) break;
        if (skipUnder && key.startsWith(skipUnder)) continue;
        const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
        const entry = cut >= 0 ? key.slice(0, cut + delimiter.length) : key;
        if (cut >= 0 && commonPrefixes[commonPrefixes.length - 1] === entry) continue;
        if (objects.length + commonPrefixes.length >= maxKeys) {
          isTruncated = true;
          break;
        }
        if (cut >= 0) commonPrefixes.push(entry);
        else objects.push(toInfo(bucket, sorted[i].sidecar));
        last = entry;
      }
      return {
        objects,
        commonPrefixes,
        isTruncated,
        ...(isTruncated ? { nextContinuationToken: Buffer.from(last, 'utf8').toString('base64url') } : {}),
      };
    },

    async createMultipartUpload(bucket, key, putOptions: PutOptions = {}): Promise<MultipartUploadInfo> {
      validateKey(key, maxKeyBytes);
      await index(bucket);
      const uploadId = randomBytes(16).toString('hex');
      const record: UploadRecord = { key, uploadId, initiated: new Date().toISOString(), contentType: putOptions.contentType ?? 'application/octet-stream', meta: { ...putOptions.meta } };
      // Written in tmp and renamed whole, so a listed upload always has its record.
      const staging = path.join(tmpDir, `upload-${uploadId}`);
      await fs.mkdir(staging);
      await writeFileAtomic(path.join(staging, 'upload.json'), JSON.stringify(record));
      await fs.rename(staging, uploadDir(bucket, uploadId));
      return { bucket, key, uploadId, initiated: new Date(record.initiated), contentType: record.contentType, meta: record.meta };
    },

    async uploadPart(bucket, key, uploadId, partNumber, body, integrity: IntegrityOptions = {}) {
      validateKey(key, maxKeyBytes);
      if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
        throw tosError('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, got ${partNumber}.`);
      }
      await readUpload(bucket, key, uploadId);
      const spooled = await spool(body, maxObjectSize, integrity);
      try {
        return await withLock(`upload\0${uploadId}`, async () => {
          // The upload may have been completed or aborted while the body streamed.
          await readUpload(bucket, key, uploadId);
          const dir = uploadDir(bucket, uploadId);
          const dataFile = `part-${partNumber}.${rand()}.bin`;
          await fs.rename(spooled.tmp, path.join(dir, dataFile));
          const sidecarPath = path.join(dir, `part-${partNumber}.json`);
          const old = await readJson<PartSidecar>(sidecarPath);
          const part: PartSidecar = { partNumber, etag: quoteEtag(spooled.md5.toString('hex')), size: spooled.size, crc64: crc64ToString(spooled.crc), lastModified: new Date().toISOString(), dataFile };
          await writeFileAtomic(sidecarPath, JSON.stringify(part));
          if (old && old.dataFile !== dataFile) await unlinkIfPresent(path.join(dir, old.dataFile));
          return partInfo(part);
        });
      } finally {
        await unlinkIfPresent(spooled.tmp);
      }
    },

    async listParts(bucket, key, uploadId, listOptions = {}): Promise<PartsPage> {
      validateKey(key, maxKeyBytes);
      await readUpload(bucket, key, uploadId);
      const maxParts = Math.max(0, Math.min(listOptions.maxParts ?? 1000, 1000));
      const marker = listOptions.partNumberMarker ?? 0;
      const after = (await readParts(bucket, uploadId)).filter((p) => p.partNumber > marker);
      const page = after.slice(0, maxParts);
      return { parts: page.map(partInfo), isTruncated: after.length > page.length, nextPartNumberMarker: page.length ? page[page.length - 1].partNumber : marker };
    },

    async completeMultipartUpload(bucket, key, uploadId, parts: readonly CompletePart[] | 'all') {
      validateKey(key, maxKeyBytes);
      await readUpload(bucket, key, uploadId);
      return withLock(`upload\0${uploadId}`, async () => {
        const record = await readUpload(bucket, key, uploadId);
        const uploaded = new Map((await readParts(bucket, uploadId)).map((p) => [p.partNumber, p]));
        let chosen: PartSidecar[];
        if (parts === 'all') {
          chosen = [...uploaded.values()];
        } else {
          const seen = new Set<number>();
          chosen = [];
          for (const wanted of [...parts].sort((a, b) => a.partNumber - b.partNumber)) {
            if (seen.has(wanted.partNumber)) throw tosError('InvalidPartOrder', `Part ${wanted.partNumber} is listed more than once.`);
            seen.add(wanted.partNumber);
            const have = uploaded.get(wanted.partNumber);
            if (!have || unquote(have.etag) !== unquote(wanted.etag)) throw tosError('InvalidPart', `Part ${wanted.partNumber} with ETag ${wanted.etag} was not uploaded.`);
            chosen.push(have);
          }
        }
        if (chosen.length === 0) throw tosError('InvalidArgument', 'CompleteMultipartUpload names no parts.');
        for (const part of chosen.slice(0, -1)) {
          if (part.size < minPartSize) throw tosError('EntityTooSmall', `Part ${part.partNumber} is ${part.size} bytes; every part but the last must be at least ${minPartSize} bytes.`);
        }
        const total = chosen.reduce((n, p) => n + p.size, 0);
        if (total > maxObjectSize * MAX_PART_NUMBER) throw tosError('EntityTooLarge');
        await init();
        const tmp = path.join(tmpDir, `${rand()}.bin`);
        const out = await fs.open(tmp, 'w');
        let crc = CRC64_INITIAL;
        const md5s = createHash('md5');
        try {
          for (const part of chosen) {
            const src = await fs.open(path.join(uploadDir(bucket, uploadId), part.dataFile), 'r');
            try {
              for await (const chunk of src.createReadStream({ autoClose: false })) await out.write(chunk as Buffer);
            } finally {
              await src.close();
            }
            crc = crc64Combine(crc, crc64FromString(part.crc64), part.size);
            md5s.update(Buffer.from(unquote(part.etag), 'hex'));
          }
          await out.sync();
        } catch (err) {
          await out.close();
          await unlinkIfPresent(tmp);
          throw err;
        }
        await out.close();
        try {
          const info = await commitObject(bucket, key, tmp, {
            size: total,
            etag: quoteEtag(`${md5s.digest('hex')}-${chosen.length}`),
            crc64: crc64ToString(crc),
            contentType: record.contentType,
            meta: record.meta,
          });
          await fs.rm(uploadDir(bucket, uploadId), { recursive: true, force: true });
          return info;
        } finally {
          await unlinkIfPresent(tmp);
        }
      });
    },

    async abortMultipartUpload(bucket, key, uploadId) {
      validateKey(key, maxKeyBytes);
      await readUpload(bucket, key, uploadId);
      await withLock(`upload\0${uploadId}`, async () => {
        await readUpload(bucket, key, uploadId);
        // Rename first so a half-removed upload is never listed.
        const doomed = path.join(tmpDir, `abort-${uploadId}`);
        await fs.rename(uploadDir(bucket, uploadId), doomed);
        await fs.rm(doomed, { recursive: true, force: true });
      });
    },

    async listMultipartUploads(bucket, listOptions = {}): Promise<UploadsPage> {
      await index(bucket);
      const prefix = listOptions.prefix ?? '';
      const delimiter = listOptions.delimiter ?? '';
      const maxUploads = Math.max(0, Math.min(listOptions.maxUploads ?? 1000, 1000));
      const keyMarker = Buffer.from(listOptions.keyMarker ?? '', 'utf8');
      const uploadIdMarker = listOptions.uploadIdMarker ?? '';
      const records: { record: UploadRecord; keyBytes: Buffer }[] = [];
      for (const id of await fs.readdir(uploadsDir(bucket))) {
        const record = await readJson<UploadRecord>(path.join(uploadsDir(bucket), id, 'upload.json'));
        if (record && record.key.startsWith(prefix)) records.push({ record, keyBytes: Buffer.from(record.key, 'utf8') });
      }
      records.sort((a, b) => compareBytes(a.keyBytes, b.keyBytes) || (a.record.uploadId < b.record.uploadId ? -1 : 1));
      const uploads: MultipartUploadInfo[] = [];
      const commonPrefixes: string[] = [];
      let isTruncated = false;
      let nextKeyMarker = '';
      let nextUploadIdMarker = '';
      for (const { record, keyBytes } of records) {
        const cmp = compareBytes(keyBytes, keyMarker);
        if (listOptions.keyMarker && (cmp < 0 || (cmp === 0 && (!uploadIdMarker || record.uploadId <= uploadIdMarker)))) continue;
        const cut = delimiter ? record.key.indexOf(delimiter, prefix.length) : -1;
        const cp = cut >= 0 ? record.key.slice(0, cut + delimiter.length) : null;
        if (cp !== null && commonPrefixes[commonPrefixes.length - 1] === cp) continue;
        if (uploads.length + commonPrefixes.length >= maxUploads) {
          isTruncated = true;
          break;
        }
        if (cp !== null) commonPrefixes.push(cp);
        else uploads.push({ bucket, key: record.key, uploadId: record.uploadId, initiated: new Date(record.initiated), contentType: record.contentType, meta: record.meta });
        nextKeyMarker = record.key;
        nextUploadIdMarker = record.uploadId;
      }
      return { uploads, commonPrefixes, isTruncated, nextKeyMarker: isTruncated ? nextKeyMarker : '', nextUploadIdMarker: isTruncated ? nextUploadIdMarker : '' };
    },
  };
}
