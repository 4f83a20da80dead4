import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { ArkBatchError } from '../lib/errors.ts';
import { createDiskStore, validateKey } from '../lib/local/disk-store.ts';
import type { MultipartStore } from '../lib/local/multipart-types.ts';
import { crc64, crc64ToString } from '../lib/tos/crc64.ts';

async function withStore<T>(fn: (store: MultipartStore, dir: string) => Promise<T>, options = {}): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-store-'));
  try {
    return await fn(createDiskStore(dir, options), dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function text(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ArkBatchError, String(err));
    return err.remoteCode;
  }
  return undefined;
}

const NASTY_KEYS = ['a', 'dir/sub dir/a+b(1)!*~.txt', 'ü/a b.txt', '中文/文件😀.jsonl', 'x%2Fy', '..a/b..', 'trailing/', 'a'.repeat(1024), 'emoji 😀\u{1F600}'];

test('keys with /, spaces, +, ()!*~, ü, CJK and emoji round-trip with their bytes, CRC and metadata', async () => {
  await withStore(async (store) => {
    await store.createBucket('bkt-a');
    for (const key of NASTY_KEYS) {
      const info = await store.putObject('bkt-a', key, Buffer.from(`body of ${key}`), { contentType: 'text/plain', meta: { k: 'v%C3%A4' } });
      assert.equal(info.crc64, crc64ToString(crc64(`body of ${key}`)));
      const got = await store.getObject('bkt-a', key);
      assert.ok(got);
      assert.equal(await text(got.body), `body of ${key}`);
      assert.equal(got.info.key, key);
      assert.equal(got.info.contentType, 'text/plain');
      assert.deepEqual(got.info.meta, { k: 'v%C3%A4' });
    }
    const listed = await store.listObjects('bkt-a', {});
    assert.deepEqual(
      listed.objects.map((o) => o.key),
      [...NASTY_KEYS].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
    );
  });
});

test('keys that could escape a directory, control characters and overlong keys are refused with 400 codes', async () => {
  await withStore(async (store, dir) => {
    await store.createBucket('bkt-a');
    for (const key of ['../escape', 'a/../../b', '/abs/path', '\\win', 'nul\0byte', 'line\nbreak', '', '\ud800lone']) {
      assert.equal(await codeOf(store.putObject('bkt-a', key, Buffer.from('x'))), 'InvalidObjectName', JSON.stringify(key));
    }
    assert.equal(await codeOf(store.putObject('bkt-a', 'k'.repeat(1025), Buffer.from('x'))), 'KeyTooLong');
    assert.equal(await codeOf(store.createBucket('../up')), 'InvalidBucketName');
    assert.equal(await codeOf(store.putObject('Bad_Bucket', 'k', Buffer.from('x'))), 'InvalidBucketName');
    // Nothing was written outside the data dir.
    assert.deepEqual((await fs.readdir(path.dirname(dir))).filter((n) => n === 'escape' || n === 'b'), []);
    assert.doesNotThrow(() => validateKey('fine/..key/a..'));
  });
});

test('missing bucket → NoSuchBucket; missing key → null; deleting a missing key is not an error', async () => {
  await withStore(async (store) => {
    assert.equal(await codeOf(store.putObject('no-such', 'k', Buffer.from('x'))), 'NoSuchBucket');
    assert.equal(await store.hasBucket('no-such'), false);
    await store.createBucket('bkt-a');
    await store.createBucket('bkt-a');
    assert.equal(await store.headObject('bkt-a', 'nope'), null);
    assert.equal(await store.getObject('bkt-a', 'nope'), null);
    await store.deleteObject('bkt-a', 'nope');
  });
});

test('a stream body is spooled chunk by chunk; an overwrite replaces the object and its old file', async () => {
  await withStore(async (store, dir) => {
    await store.createBucket('bkt-a');
    await store.putObject('bkt-a', 'k', Readable.from([Buffer.from('héllo '), Buffer.from([0xe4, 0xb8]), Buffer.from([0xad, 0x21])]));
    const got = await store.getObject('bkt-a', 'k');
    assert.equal(await text(got!.body), 'héllo 中!');
    await store.putObject('bkt-a', 'k', Buffer.from('second'));
    assert.equal(await text((await store.getObject('bkt-a', 'k'))!.body), 'second');
    const files = await fs.readdir(path.join(dir, 'buckets', 'bkt-a', 'objects'));
    assert.equal(files.filter((f) => f.endsWith('.bin')).length, 1);
    await store.deleteObject('bkt-a', 'k');
    assert.deepEqual(await fs.readdir(path.join(dir, 'buckets', 'bkt-a', 'objects')), []);
  });
});

test('a body that fails mid-stream leaves no object and no temp file behind', async () => {
  await withStore(async (store, dir) => {
    await store.createBucket('bkt-a');
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1000, 1));
        this.destroy(new Error('client went away'));
      },
    });
    await assert.rejects(store.putObject('bkt-a', 'k', failing), /client went away/);
    assert.equal(await store.headObject('bkt-a', 'k'), null);
    assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
  });
});

test('ranges read inclusive byte spans; a range past the end is InvalidRange', async () => {
  await withStore(async (store) => {
    await store.createBucket('bkt-a');
    await store.putObject('bkt-a', 'k', Buffer.from('0123456789'));
    assert.equal(await text((await store.getObject('bkt-a', 'k', { start: 2, end: 4 }))!.body), '234');
    assert.equal(await codeOf(store.getObject('bkt-a', 'k', { start: 5, end: 10 })), 'InvalidRange');
  });
});

/** The listing a straightforward reading of ListObjectsV2 gives. */
function modelList(keys: string[], prefix: string, delimiter: string): string[] {
  const sorted = [...new Set(keys)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const out: string[] = [];
  for (const k of sorted) {
    if (!k.startsWith(prefix)) continue;
    const cut = delimiter ? k.indexOf(delimiter, prefix.length) : -1;
    const entry = cut >= 0 ? `P:${k.slice(0, cut + delimiter.length)}` : `K:${k}`;
    if (!out.includes(entry)) out.push(entry);
  }
  return out;
}

test('property: paging through a listing with any prefix, delimiter and page size yields the model listing in UTF-8 byte order', async () => {
  await withStore(async (store) => {
    await store.createBucket('bkt-p');
    const keyArb = fc.array(fc.constantFrom('a', 'b', '/', 'ü', '中', '😀', ' ', '~'), { minLength: 1, maxLength: 6 }).map((cs) => cs.join(''));
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(keyArb, { minLength: 0, maxLength: 12 }), fc.constantFrom('', 'a', 'a/', 'ü', '中'), fc.constantFrom('', '/', 'b'), fc.integer({ min: 1, max: 5 }), async (keys, prefix, delimiter, pageSize) => {
        const valid = keys.filter((k) => !k.startsWith('/'));
        for (const existing of (await store.listObjects('bkt-p', {})).objects) await store.deleteObject('bkt-p', existing.key);
        for (const k of valid) await store.putObject('bkt-p', k, Buffer.from(k));
        const seen: string[] = [];
        let token: string | undefined;
        for (let pages = 0; pages < 100; pages++) {
          const page = await store.listObjects('bkt-p', { prefix, delimiter, maxKeys: pageSize, continuationToken: token });
          assert.ok(page.objects.length + page.commonPrefixes.length <= pageSize);
          const entries = [...page.objects.map((o) => `K:${o.key}`), ...page.commonPrefixes.map((p) => `P:${p}`)];
          entries.sort((x, y) => Buffer.compare(Buffer.from(x.slice(2)), Buffer.from(y.slice(2))));
          seen.push(...entries);
          if (!page.isTruncated) break;
          token = page.nextContinuationToken;
        }
        assert.deepEqual(seen, modelList(valid, prefix, delimiter));
      }),
      { numRuns: 25 },
    );
  });
});

test('multipart: parts complete in any order into one object whose CRC combines the parts’', async () => {
  await withStore(
    async (store) => {
      await store.createBucket('bkt-a');
      const up = await store.createMultipartUpload('bkt-a', 'mp/obj', { contentType: 'application/jsonl', meta: { a: '1' } });
      const parts = [Buffer.alloc(16, 'a'), Buffer.alloc(16, 'b'), Buffer.from('tail')];
      const infos = [];
      for (const i of [2, 0, 1]) infos[i] = await store.uploadPart('bkt-a', 'mp/obj', up.uploadId, i + 1, parts[i]);
      const listed = await store.listParts('bkt-a', 'mp/obj', up.uploadId, { maxParts: 2 });
      assert.deepEqual(listed.parts.map((p) => p.partNumber), [1, 2]);
      assert.equal(listed.isTruncated, true);
      const info = await store.completeMultipartUpload('bkt-a', 'mp/obj', up.uploadId, [
        { partNumber: 3, etag: infos[2].etag },
        { partNumber: 1, etag: infos[0].etag },
        { partNumber: 2, etag: infos[1].etag },
      ]);
      const whole = Buffer.concat(parts);
      assert.equal(info.crc64, crc64ToString(crc64(whole)));
      assert.match(info.etag, /^"[0-9a-f]{32}-3"$/);
      assert.equal(info.contentType, 'application/jsonl');
      assert.equal(await text((await store.getObject('bkt-a', 'mp/obj'))!.body), whole.toString());
      assert.equal(await codeOf(store.listParts('bkt-a', 'mp/obj', up.uploadId)), 'NoSuchUpload');
      assert.deepEqual((await store.listMultipartUploads('bkt-a')).uploads, []);
    },
    { minPartSize: 16 },
  );
});

test('multipart errors: EntityTooSmall, InvalidPart, InvalidPartOrder, NoSuchUpload, bad part numbers', async () => {
  await withStore(
    async (store) => {
      await store.createBucket('bkt-a');
      const up = await store.createMultipartUpload('bkt-a', 'k');
      const p1 = await store.uploadPart('bkt-a', 'k', up.uploadId, 1, Buffer.alloc(15));
      const p2 = await store.uploadPart('bkt-a', 'k', up.uploadId, 2, Buffer.alloc(3));
      assert.equal(await codeOf(store.completeMultipartUpload('bkt-a', 'k', up.uploadId, [{ partNumber: 1, etag: p1.etag }, { partNumber: 2, etag: p2.etag }])), 'EntityTooSmall');
      assert.equal(await codeOf(store.completeMultipartUpload('bkt-a', 'k', up.uploadId, [{ partNumber: 3, etag: p1.etag }])), 'InvalidPart');
      assert.equal(await codeOf(store.completeMultipartUpload('bkt-a', 'k', up.uploadId, [{ partNumber: 1, etag: p2.etag }])), 'InvalidPart');
      assert.equal(await codeOf(store.completeMultipartUpload('bkt-a', 'k', up.uploadId, [{ partNumber: 2, etag: p2.etag }, { partNumber: 2, etag: p2.etag }])), 'InvalidPartOrder');
      assert.equal(await codeOf(store.uploadPart('bkt-a', 'k', up.uploadId, 0, Buffer.alloc(1))), 'InvalidArgument');
      assert.equal(await codeOf(store.uploadPart('bkt-a', 'k', up.uploadId, 10001, Buffer.alloc(1))), 'InvalidArgument');
      assert.equal(await codeOf(store.uploadPart('bkt-a', 'other-key', up.uploadId, 1, Buffer.alloc(1))), 'NoSuchUpload');
      assert.equal(await codeOf(store.uploadPart('bkt-a', 'k', 'f'.repeat(32), 1, Buffer.alloc(1))), 'NoSuchUpload');
      assert.equal(await codeOf(store.uploadPart('bkt-a', 'k', '../../x', 1, Buffer.alloc(1))), 'NoSuchUpload');
      // Re-uploading a part replaces it; then the last-part-only rule is satisfied.
      const p1b = await store.uploadPart('bkt-a', 'k', up.uploadId, 1, Buffer.alloc(16, 7));
      const info = await store.completeMultipartUpload('bkt-a', 'k', up.uploadId, 'all');
      assert.equal(info.size, 19);
      assert.notEqual(p1b.etag, p1.etag);
      const up2 = await store.createMultipartUpload('bkt-a', 'k');
      await store.abortMultipartUpload('bkt-a', 'k', up2.uploadId);
      assert.equal(await codeOf(store.abortMultipartUpload('bkt-a', 'k', up2.uploadId)), 'NoSuchUpload');
    },
    { minPartSize: 16 },
  );
});

test('objects and unfinished uploads survive reopening the data dir; leftover temp files are dropped', async () => {
  await withStore(async (_store, dir) => {
    const first = createDiskStore(dir, { minPartSize: 1 });
    await first.createBucket('bkt-a');
    await first.putObject('bkt-a', 'kept/ü', Buffer.from('kept'));
    const up = await first.createMultipartUpload('bkt-a', 'pending');
    const part = await first.uploadPart('bkt-a', 'pending', up.uploadId, 1, Buffer.from('part one'));
    await fs.writeFile(path.join(dir, 'tmp', 'half-written.bin'), 'garbage');
    const second = createDiskStore(dir, { minPartSize: 1 });
    assert.equal(await text((await second.getObject('bkt-a', 'kept/ü'))!.body), 'kept');
    assert.deepEqual((await second.listMultipartUploads('bkt-a')).uploads.map((u) => u.uploadId), [up.uploadId]);
    assert.deepEqual((await second.listParts('bkt-a', 'pending', up.uploadId)).parts.map((p) => p.etag), [part.etag]);
    await second.completeMultipartUpload('bkt-a', 'pending', up.uploadId, [{ partNumber: 1, etag: part.etag }]);
    assert.equal(await text((await second.getObject('bkt-a', 'pending'))!.body), 'part one');
    assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
  });
});

test('concurrent puts and part uploads to one name leave exactly one complete winner and no stray files', async () => {
  await withStore(
    async (store, dir) => {
      await store.createBucket('bkt-c');
      const bodies = Array.from({ length: 12 }, (_, i) => Buffer.alloc(64 * 1024 + i, String.fromCharCode(97 + i)));
      await Promise.all(bodies.map((b) => store.putObject('bkt-c', 'same', Readable.from([b.subarray(0, 1000), b.subarray(1000)]))));
      const got = await store.getObject('bkt-c', 'same');
      const content = Buffer.from(await text(got!.body));
      assert.ok(bodies.some((b) => b.equals(content)));
      assert.equal(got!.info.size, content.length);
      assert.equal(got!.info.crc64, crc64ToString(crc64(content)));
      assert.equal((await fs.readdir(path.join(dir, 'buckets', 'bkt-c', 'objects'))).filter((f) => f.endsWith('.bin')).length, 1);

      const up = await store.createMultipartUpload('bkt-c', 'mp');
      const parts = await Promise.all(bodies.map((b) => store.uploadPart('bkt-c', 'mp', up.uploadId, 1, b)));
      const listed = await store.listParts('bkt-c', 'mp', up.uploadId);
      assert.equal(listed.parts.length, 1);
      assert.ok(parts.some((p) => p.etag === listed.parts[0].etag));
      const files = await fs.readdir(path.join(dir, 'buckets', 'bkt-c', 'uploads', up.uploadId));
      assert.deepEqual(files.filter((f) => f.endsWith('.bin')).length, 1);
      assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
    },
    { minPartSize: 1 },
  );
});

test('a bucket can be deleted only when it holds no objects and no unfinished uploads', async () => {
  await withStore(async (store) => {
    await store.createBucket('bkt-d');
    await store.putObject('bkt-d', 'k', Buffer.from('x'));
    assert.equal(await codeOf(store.deleteBucket('bkt-d')), 'BucketNotEmpty');
    await store.deleteObject('bkt-d', 'k');
    const up = await store.createMultipartUpload('bkt-d', 'k');
    assert.equal(await codeOf(store.deleteBucket('bkt-d')), 'BucketNotEmpty');
    await store.abortMultipartUpload('bkt-d', 'k', up.uploadId);
    await store.deleteBucket('bkt-d');
    assert.equal(await store.hasBucket('bkt-d'), false);
    assert.deepEqual((await store.listBuckets()).map((b) => b.name), []);
    assert.equal(await codeOf(store.deleteBucket('bkt-d')), 'NoSuchBucket');
  });
});
