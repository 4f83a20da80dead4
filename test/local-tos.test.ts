import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { TosServerError } from '@volcengine/tos-sdk';
import fc from 'fast-check';
import { startLocalServer, type LocalServer } from '../lib/local/server.ts';
import { formatTosDate, signTosRequest } from '../lib/local/tos-signature.ts';
import { crc64, crc64ToString } from '../lib/tos/crc64.ts';
import { sdkClient, signedRequest, type Style } from './helpers/tos.ts';

const MiB = 1024 * 1024;

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function serverError(p: Promise<unknown>): Promise<TosServerError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TosServerError, `expected TosServerError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

/** Deterministic, non-repeating bytes so a misplaced part cannot go unnoticed. */
function pattern(size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < size; i += 4) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    buf.writeUInt32LE(x, i <= size - 4 ? i : size - 4);
  }
  return buf;
}

let server: LocalServer;
before(async () => {
  server = await startLocalServer();
});
after(async () => {
  await server.close();
});

for (const style of ['path', 'virtual-host'] as Style[]) {
  describe(`the real TOS SDK in ${style} style`, () => {
    const bucket = style === 'path' ? 'bkt-path' : 'bkt-vhost';

    test('creates a bucket, heads it, refuses to create it twice, and heads a missing bucket as 404 0006-00000001', async () => {
      const client = sdkClient(server, style);
      await client.createBucket({ bucket });
      const head = await client.headBucket(bucket);
      assert.equal(head.statusCode, 200);
      assert.equal(head.data['x-tos-bucket-region'], 'cn-beijing');
      assert.equal((await serverError(client.createBucket({ bucket }))).code, 'BucketAlreadyOwnedByYou');
      const missing = await serverError(client.headBucket('no-such-bucket'));
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.ec, '0006-00000001');
      assert.ok(missing.requestId);
      const listed = await client.listBuckets();
      assert.ok(listed.data.Buckets.some((b) => b.Name === bucket));
    });

    test('puts (chunked Buffer and Readable), gets, heads and deletes objects with awkward keys; CRC headers match', async () => {
      const client = sdkClient(server, style, { enableCRC: true });
      const keys = ['plain.txt', 'dir/sub dir/a+b(1)!*~.txt', 'ü/a b.jsonl', '中文/数据 😀.jsonl', "quote's/x"];
      for (const [i, key] of keys.entries()) {
        const body = Buffer.from(`line ${i} 中文 😀\n`.repeat(100 + i));
        const put = await client.putObject({ bucket, key, body, meta: { origin: 'tést' } });
        assert.equal(put.headers['x-tos-hash-crc64ecma'], crc64ToString(crc64(body)));
        const got = await client.getObjectV2({ bucket, key });
        assert.deepEqual(await readAll(got.data.content), body);
        assert.equal(got.data.hashCrc64ecma, crc64ToString(crc64(body)));
        const head = await client.headObject({ bucket, key });
        assert.equal(head.data['content-length'], String(body.length));
        assert.equal(head.data['x-tos-hash-crc64ecma'], crc64ToString(crc64(body)));
        assert.equal(head.data['x-tos-meta-origin'], 'tést');
        assert.equal(head.data['content-type'], key.endsWith('.txt') ? 'text/plain' : 'application/octet-stream');
      }
      const streamed = Buffer.from('from a readable\n'.repeat(1000));
      await client.putObject({ bucket, key: 'stream.bin', body: Readable.from([streamed.subarray(0, 7), streamed.subarray(7)]) });
      assert.deepEqual(await readAll((await client.getObjectV2({ bucket, key: 'stream.bin' })).data.content), streamed);
      const del = await client.deleteObject({ bucket, key: 'stream.bin' });
      assert.equal(del.statusCode, 204);
      const gone = await serverError(client.headObject({ bucket, key: 'stream.bin' }));
      assert.equal(gone.statusCode, 404);
      const missing = await serverError(client.getObjectV2({ bucket, key: 'stream.bin' }));
      assert.equal(missing.statusCode, 404);
      const empty = await client.putObject({ bucket, key: 'empty' });
      assert.equal(empty.headers['x-tos-hash-crc64ecma'], '0');
    });

    test('ranges answer 206 with content-range; a range past the end answers 416', async () => {
      const client = sdkClient(server, style);
      const body = Buffer.from('0123456789abcdefghij');
      await client.putObject({ bucket, key: 'range.txt', body });
      const mid = await client.getObjectV2({ bucket, key: 'range.txt', rangeStart: 10, rangeEnd: 19 });
      assert.equal(mid.statusCode, 206);
      assert.equal(mid.headers['content-range'], 'bytes 10-19/20');
      assert.equal((await readAll(mid.data.content)).toString(), 'abcdefghij');
      const suffix = await client.getObjectV2({ bucket, key: 'range.txt', headers: { range: 'bytes=-3' } });
      assert.equal((await readAll(suffix.data.content)).toString(), 'hij');
      const open = await client.getObjectV2({ bucket, key: 'range.txt', headers: { range: 'bytes=15-' } });
      assert.equal((await readAll(open.data.content)).toString(), 'fghij');
      const clamped = await client.getObjectV2({ bucket, key: 'range.txt', headers: { range: 'bytes=18-100' } });
      assert.equal(clamped.headers['content-range'], 'bytes 18-19/20');
      const bad = await serverError(client.getObjectV2({ bucket, key: 'range.txt', rangeStart: 20, rangeEnd: 30 }));
      assert.equal(bad.statusCode, 416);
    });

    test('lists objects v2 page by page with KeyCount, IsTruncated, NextContinuationToken, delimiter and start-after', async () => {
      const client = sdkClient(server, style);
      const keys = ['ls/a', 'ls/b/1', 'ls/b/2', 'ls/c', 'ls/d/x', 'ls/e', 'ls/ü', 'ls/中'];
      for (const key of keys) await client.putObject({ bucket, key, body: Buffer.from(key) });
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        // continuationToken must be absent, not undefined: the SDK signs `continuation-token=undefined` but never sends it.
        const page = await client.listObjectsType2({ bucket, prefix: 'ls/', delimiter: '/', maxKeys: 3, listOnlyOnce: true, ...(token ? { continuationToken: token } : {}) });
        pages++;
        assert.equal(page.data.KeyCount, page.data.Contents.length + page.data.CommonPrefixes.length);
        seen.push(...page.data.CommonPrefixes.map((p) => `P:${p.Prefix}`), ...page.data.Contents.map((c) => c.Key));
        token = page.data.IsTruncated ? page.data.NextContinuationToken : undefined;
      } while (token);
      assert.equal(pages, 3);
      assert.deepEqual(seen.sort(), ['P:ls/b/', 'P:ls/d/', 'ls/a', 'ls/c', 'ls/e', 'ls/ü', 'ls/中'].sort());
      const all = await client.listObjectsType2({ bucket, prefix: 'ls/', maxKeys: 1000 });
      assert.deepEqual(all.data.Contents.map((c) => c.Key), keys);
      assert.equal(all.data.Contents[0].HashCrc64ecma, crc64ToString(crc64('ls/a')));
      const after = await client.listObjectsType2({ bucket, prefix: 'ls/', startAfter: 'ls/c' });
      assert.deepEqual(after.data.Contents.map((c) => c.Key), ['ls/d/x', 'ls/e', 'ls/ü', 'ls/中']);
      // The SDK's own loop follows NextContinuationToken until maxKeys objects are collected.
      const looped = await client.listObjectsType2({ bucket, prefix: 'ls/', maxKeys: 5 });
      assert.equal(looped.data.Contents.length, 5);
      // Like real TOS, the server checks what was signed: an explicit undefined option is signed as the text "undefined".
      const quirk = await serverError(client.listObjectsType2({ bucket, prefix: 'ls/', continuationToken: undefined }));
      assert.deepEqual([quirk.statusCode, quirk.code], [403, 'SignatureDoesNotMatch']);
    });

    test('multipart: 5 MiB parts uploaded and completed out of order; CRC combines; listParts and listMultipartUploads', async () => {
      const client = sdkClient(server, style, { enableCRC: true });
      const key = 'mp/obj ü.bin';
      const parts = [pattern(5 * MiB, 1), pattern(5 * MiB, 2), Buffer.from('the short tail')];
      const { data: created } = await client.createMultipartUpload({ bucket, key });
      assert.equal(created.Key, key);
      const uploads = await client.listMultipartUploads({ bucket, prefix: 'mp/' });
      assert.ok(uploads.data.Uploads.some((u) => u.UploadId === created.UploadId && u.Key === key));
      const etags: string[] = [];
      for (const i of [2, 0, 1]) {
        const res = await client.uploadPart({ bucket, key, uploadId: created.UploadId, partNumber: i + 1, body: parts[i] });
        assert.equal(res.data.hashCrc64ecma, crc64ToString(crc64(parts[i])));
        etags[i] = res.data.ETag;
      }
      const listed = await client.listParts({ bucket, key, uploadId: created.UploadId });
      assert.deepEqual(listed.data.Parts.map((p) => [p.PartNumber, p.Size]), [[1, 5 * MiB], [2, 5 * MiB], [3, 14]]);
      const done = await client.completeMultipartUpload({
        bucket,
        key,
        uploadId: created.UploadId,
        parts: [2, 0, 1].map((i) => ({ partNumber: i + 1, eTag: etags[i] })),
      });
      const whole = Buffer.concat(parts);
      assert.equal(done.data.HashCrc64ecma, crc64ToString(crc64(whole)));
      assert.match(done.data.ETag, /-3"$/);
      const got = await client.getObjectV2({ bucket, key });
      assert.deepEqual(await readAll(got.data.content), whole);
      assert.equal((await client.headObject({ bucket, key })).data['x-tos-hash-crc64ecma'], crc64ToString(crc64(whole)));
      const slice = await client.getObjectV2({ bucket, key, rangeStart: 5 * MiB - 2, rangeEnd: 5 * MiB + 1 });
      assert.deepEqual(await readAll(slice.data.content), whole.subarray(5 * MiB - 2, 5 * MiB + 2));
    });

    test('multipart errors: EntityTooSmall, InvalidPart, NoSuchUpload; abort answers 204 and forgets the upload', async () => {
      const client = sdkClient(server, style);
      const key = 'mp/small';
      const { data } = await client.createMultipartUpload({ bucket, key });
      const p1 = await client.uploadPart({ bucket, key, uploadId: data.UploadId, partNumber: 1, body: Buffer.alloc(1024, 1) });
      const p2 = await client.uploadPart({ bucket, key, uploadId: data.UploadId, partNumber: 2, body: Buffer.alloc(10, 2) });
      const small = await serverError(
        client.completeMultipartUpload({ bucket, key, uploadId: data.UploadId, parts: [{ partNumber: 1, eTag: p1.data.ETag }, { partNumber: 2, eTag: p2.data.ETag }] }),
      );
      assert.deepEqual([small.statusCode, small.code], [400, 'EntityTooSmall']);
      const wrong = await serverError(client.completeMultipartUpload({ bucket, key, uploadId: data.UploadId, parts: [{ partNumber: 1, eTag: p2.data.ETag }] }));
      assert.deepEqual([wrong.statusCode, wrong.code], [400, 'InvalidPart']);
      const abort = await client.abortMultipartUpload({ bucket, key, uploadId: data.UploadId });
      assert.equal(abort.statusCode, 204);
      const gone = await serverError(client.uploadPart({ bucket, key, uploadId: data.UploadId, partNumber: 3, body: Buffer.from('x') }));
      assert.deepEqual([gone.statusCode, gone.code], [404, 'NoSuchUpload']);
      assert.deepEqual([(await serverError(client.abortMultipartUpload({ bucket, key, uploadId: data.UploadId }))).code], ['NoSuchUpload']);
      const uploads = await client.listMultipartUploads({ bucket, prefix: key });
      assert.deepEqual(uploads.data.Uploads, []);
    });

    test('completeAll (x-tos-complete-all: yes) completes every uploaded part; a single-part upload may be small', async () => {
      const client = sdkClient(server, style);
      const key = 'mp/all';
      const { data } = await client.createMultipartUpload({ bucket, key });
      await client.uploadPart({ bucket, key, uploadId: data.UploadId, partNumber: 1, body: Buffer.from('only part') });
      const done = await client.completeMultipartUpload({ bucket, key, uploadId: data.UploadId, completeAll: true, parts: [] });
      assert.equal(done.data.HashCrc64ecma, crc64ToString(crc64('only part')));
      assert.equal((await readAll((await client.getObjectV2({ bucket, key })).data.content)).toString(), 'only part');
    });
  });
}

test('the SDK’s uploadFile (file path, 5 MiB parts, enableCRC) checks our combined CRC and succeeds', async () => {
  const client = sdkClient(server, 'path', { enableCRC: true });
  await client.createBucket({ bucket: 'bkt-upload-file' });
  const file = pattern(11 * MiB + 123, 9);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-upload-'));
  // A path, not a Buffer: with a Buffer the SDK's combineCRCInParts sees file_size 0 and always reports a mismatch.
  await fs.writeFile(path.join(dir, 'file.bin'), file);
  try {
    await client.uploadFile({ bucket: 'bkt-upload-file', key: 'big/file.bin', file: path.join(dir, 'file.bin'), partSize: 5 * MiB, taskNum: 2 });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  const head = await client.headObject({ bucket: 'bkt-upload-file', key: 'big/file.bin' });
  assert.equal(head.data['x-tos-hash-crc64ecma'], crc64ToString(crc64(file)));
  assert.equal(head.data['content-length'], String(file.length));
});

describe('authentication', () => {
  test('a wrong secret key → 403 SignatureDoesNotMatch; an unknown access key → 403 InvalidAccessKeyId', async () => {
    const wrongSecret = sdkClient({ ...server, secretKey: 'not-the-secret' }, 'path');
    const e1 = await serverError(wrongSecret.listBuckets());
    assert.deepEqual([e1.statusCode, e1.code], [403, 'SignatureDoesNotMatch']);
    const wrongKey = sdkClient({ ...server, accessKey: 'AKUNKNOWN' }, 'virtual-host');
    const e2 = await serverError(wrongKey.headBucket('bkt-path'));
    assert.equal(e2.statusCode, 403);
    const e3 = await serverError(wrongKey.putObject({ bucket: 'bkt-path', key: 'x', body: Buffer.from('x') }));
    assert.deepEqual([e3.statusCode, e3.code], [403, 'InvalidAccessKeyId']);
  });

  test('a request signed 16 minutes ago → 403 RequestTimeTooSkewed; 1 minute ago is fine', async () => {
    const old = await signedRequest(server, { method: 'GET', rawPath: '/', date: new Date(Date.now() - 16 * 60_000) });
    assert.equal(old.status, 403);
    assert.equal(JSON.parse(old.body).Code, 'RequestTimeTooSkewed');
    const recent = await signedRequest(server, { method: 'GET', rawPath: '/', date: new Date(Date.now() - 60_000) });
    assert.equal(recent.status, 200);
  });

  test('no Authorization → 403 AccessDenied with the JSON error body and x-tos-request-id', async () => {
    const res = await signedRequest(server, { method: 'GET', rawPath: '/bkt-path/plain.txt', unsigned: true });
    assert.equal(res.status, 403);
    const body = JSON.parse(res.body);
    assert.equal(body.Code, 'AccessDenied');
    assert.equal(body.RequestId, res.headers['x-tos-request-id']);
    assert.equal(body.EC, res.headers['x-tos-ec']);
    assert.equal(body.Resource, '/bkt-path/plain.txt');
    assert.ok(body.Message && body.HostId);
  });

  test('property: the server never accepts a request whose method, path, query or signed header was changed after signing', async () => {
    await sdkClient(server, 'path').putObject({ bucket: 'bkt-path', key: 'tamper/target', body: Buffer.from('secret') });
    const control = await signedRequest(server, { method: 'GET', rawPath: '/bkt-path/tamper%2Ftarget', rawQuery: 'x=1' });
    assert.equal(control.status, 200);
    const tamper = fc.oneof(
      fc.constantFrom('HEAD', 'DELETE', 'PUT', 'POST').map((m) => (r: { method: string }) => void (r.method = m)),
      fc.stringMatching(/^[a-z0-9]{1,4}$/).map((s) => (r: { rawPath: string }) => void (r.rawPath += s)),
      fc.constantFrom('/bkt-path/tamper%2Ftarge', '/bkt-vhost/tamper%2Ftarget', '/bkt-path/tamper/target%20').map((p) => (r: { rawPath: string }) => void (r.rawPath = p)),
      fc.constantFrom('x=2', 'x=1&y=', 'y=1', 'x=1&uploads=', 'X=1').map((q) => (r: { rawQuery: string }) => void (r.rawQuery = q)),
      fc.constantFrom('x-tos-date', 'x-tos-content-sha256', 'host', 'x-tos-meta-a').map((h) => (r: { headers: Record<string, string> }) => {
        r.headers[h] = h === 'x-tos-date' ? r.headers[h].replace(/\d(?=Z$)/, (d) => String((Number(d) + 1) % 10)) : h === 'host' ? `bkt-path.tos-cn-beijing.volces.com` : 'changed';
      }),
    );
    await fc.assert(
      fc.asyncProperty(tamper, async (change) => {
        const res = await signedRequest(server, {
          method: 'GET',
          rawPath: '/bkt-path/tamper%2Ftarget',
          rawQuery: 'x=1',
          headers: { 'x-tos-meta-a': 'b' },
          tamper: change as (r: object) => void,
        });
        assert.equal(res.status, 403, `tampered request got ${res.status}: ${res.body}`);
      }),
      { numRuns: 40 },
    );
    assert.equal((await readAll((await sdkClient(server, 'path').getObjectV2({ bucket: 'bkt-path', key: 'tamper/target' })).data.content)).toString(), 'secret');
  });
});

test('keys that try to escape the data dir answer 400 InvalidObjectName / KeyTooLong', async () => {
  await sdkClient(server, 'path').createBucket({ bucket: 'bkt-escape' });
  for (const rawPath of ['/bkt-escape/..%2F..%2Fetc%2Fpasswd', '/bkt-escape/a%2F..%2F..%2Fb', '/bkt-escape/%2Fabsolute', '/bkt-escape/nul%00byte']) {
    const res = await signedRequest(server, { method: 'PUT', rawPath, body: 'x' });
    assert.equal(res.status, 400, rawPath);
    assert.equal(JSON.parse(res.body).Code, 'InvalidObjectName', rawPath);
  }
  const long = await signedRequest(server, { method: 'PUT', rawPath: `/bkt-escape/${'k'.repeat(1025)}`, body: 'x' });
  assert.equal(JSON.parse(long.body).Code, 'KeyTooLong');
  const client = sdkClient(server, 'path');
  const viaSdk = await serverError(client.putObject({ bucket: 'bkt-escape', key: '../outside', body: Buffer.from('x') }));
  assert.deepEqual([viaSdk.statusCode, viaSdk.code], [400, 'InvalidObjectName']);
  assert.deepEqual((await client.listObjectsType2({ bucket: 'bkt-escape' })).data.Contents, []);
});

test('every response carries x-tos-request-id, including HEAD 404s and unsupported operations', async () => {
  const head = await signedRequest(server, { method: 'HEAD', rawPath: '/bkt-path/missing' });
  assert.equal(head.status, 404);
  assert.match(String(head.headers['x-tos-request-id']), /^[0-9a-f]{24}$/);
  assert.equal(head.headers['x-tos-ec'], '0017-00000003');
  const acl = await signedRequest(server, { method: 'GET', rawPath: '/bkt-path/plain.txt', rawQuery: 'acl=' });
  assert.equal(acl.status, 501);
  assert.ok(acl.headers['x-tos-request-id']);
  const bad = await signedRequest(server, { method: 'GET', rawPath: '/bkt-path/%E4%B8' , unsigned: true });
  assert.equal(bad.status, 400);
  assert.ok(bad.headers['x-tos-request-id']);
});

test('ListObjects v1 pages with Marker / NextMarker', async () => {
  const client = sdkClient(server, 'path');
  await client.createBucket({ bucket: 'bkt-v1' });
  for (const key of ['k1', 'k2', 'k3']) await client.putObject({ bucket: 'bkt-v1', key, body: Buffer.from(key) });
  const first = await client.listObjects({ bucket: 'bkt-v1', maxKeys: 2 });
  assert.deepEqual(first.data.Contents.map((c) => c.Key), ['k1', 'k2']);
  assert.equal(first.data.IsTruncated, true);
  assert.equal(first.data.NextMarker, 'k2');
  const second = await client.listObjects({ bucket: 'bkt-v1', maxKeys: 2, marker: first.data.NextMarker });
  assert.deepEqual(second.data.Contents.map((c) => c.Key), ['k3']);
  assert.equal(second.data.IsTruncated, false);
});

test('an absolute-URI request line (forward-proxy style) addresses the bucket named by its host', async () => {
  await sdkClient(server, 'path').createBucket({ bucket: 'bkt-abs' });
  await sdkClient(server, 'path').putObject({ bucket: 'bkt-abs', key: 'plain.txt', body: Buffer.from('absolute') });
  const bucketHost = 'bkt-abs.tos-cn-beijing.volces.com';
  const headers: Record<string, string> = { host: bucketHost, 'x-tos-date': formatTosDate(new Date()), 'x-tos-content-sha256': 'UNSIGNED-PAYLOAD' };
  headers.authorization = signTosRequest({
    accessKey: server.accessKey,
    secretKey: server.secretKey,
    region: server.region,
    tosDate: headers['x-tos-date'],
    method: 'GET',
    decodedPath: '/plain.txt',
    query: [],
    signedHeaders: ['host', 'x-tos-content-sha256', 'x-tos-date'],
    headers,
  }).authorization;
  const { port } = new URL(server.tosEndpoint);
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: `http://${bucketHost}/plain.txt`, headers }, resolve).on('error', reject);
  });
  assert.equal(res.statusCode, 200);
  assert.equal((await readAll(res)).toString(), 'absolute');
});

test('the server keeps idle connections longer than the SDK agent’s 30 s, so reused sockets are never closed under it', async () => {
  const res = await signedRequest(server, { method: 'GET', rawPath: '/' });
  assert.equal(res.status, 200);
  const timeout = Number(/timeout=(\d+)/.exec(String(res.headers['keep-alive']))?.[1]);
  assert.ok(timeout > 30, `keep-alive timeout ${timeout}`);
});

test('deleteBucket answers 409 BucketNotEmpty while objects remain, then 204', async () => {
  const client = sdkClient(server, 'virtual-host');
  await client.createBucket({ bucket: 'bkt-del' });
  await client.putObject({ bucket: 'bkt-del', key: 'k', body: Buffer.from('x') });
  const busy = await serverError(client.deleteBucket('bkt-del'));
  assert.deepEqual([busy.statusCode, busy.code], [409, 'BucketNotEmpty']);
  await client.deleteObject({ bucket: 'bkt-del', key: 'k' });
  assert.equal((await client.deleteBucket('bkt-del')).statusCode, 204);
  assert.equal((await serverError(client.headBucket('bkt-del'))).statusCode, 404);
});

test('Content-MD5 is checked: a matching digest stores the object, a wrong one is 400 BadDigest, a malformed one 400 InvalidDigest', async () => {
  const client = sdkClient(server, 'path');
  await client.createBucket({ bucket: 'bkt-md5' });
  const body = Buffer.from('integrity matters 完整性');
  const md5 = createHash('md5').update(body).digest('base64');
  await client.putObject({ bucket: 'bkt-md5', key: 'ok', body, contentMD5: md5 });
  const bad = await serverError(client.putObject({ bucket: 'bkt-md5', key: 'bad', body, contentMD5: createHash('md5').update('other').digest('base64') }));
  assert.deepEqual([bad.statusCode, bad.code], [400, 'BadDigest']);
  const malformed = await serverError(client.putObject({ bucket: 'bkt-md5', key: 'bad', body, contentMD5: 'not-base64!' }));
  assert.deepEqual([malformed.statusCode, malformed.code], [400, 'InvalidDigest']);
  assert.deepEqual((await client.listObjectsType2({ bucket: 'bkt-md5' })).data.Contents.map((c) => c.Key), ['ok']);
  const { data } = await client.createMultipartUpload({ bucket: 'bkt-md5', key: 'mp' });
  const part = await client.uploadPart({ bucket: 'bkt-md5', key: 'mp', uploadId: data.UploadId, partNumber: 1, body, headers: { 'content-md5': md5 } });
  assert.equal(part.data.ETag, `"${createHash('md5').update(body).digest('hex')}"`);
  const badPart = await serverError(
    client.uploadPart({ bucket: 'bkt-md5', key: 'mp', uploadId: data.UploadId, partNumber: 2, body, headers: { 'content-md5': md5.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) } }),
  );
  assert.equal(badPart.code, 'BadDigest');
});

test('If-Match guards a ranged resume against a changed object (412); If-None-Match on the current ETag answers 304', async () => {
  const client = sdkClient(server, 'path');
  await client.createBucket({ bucket: 'bkt-cond' });
  const first = await client.putObject({ bucket: 'bkt-cond', key: 'k', body: Buffer.from('version one') });
  const etag = String(first.headers.etag);
  const ok = await client.getObjectV2({ bucket: 'bkt-cond', key: 'k', rangeStart: 8, rangeEnd: 10, headers: { 'if-match': etag } });
  assert.equal((await readAll(ok.data.content)).toString(), 'one');
  await client.putObject({ bucket: 'bkt-cond', key: 'k', body: Buffer.from('version two') });
  const changed = await serverError(client.getObjectV2({ bucket: 'bkt-cond', key: 'k', rangeStart: 8, rangeEnd: 10, headers: { 'if-match': etag } }));
  // getObjectV2 errors carry no code (the body is left unread as err.data); the EC header identifies it.
  assert.deepEqual([changed.statusCode, changed.ec], [412, '0017-00000009']);
  const current = String((await client.headObject({ bucket: 'bkt-cond', key: 'k' })).data.etag);
  const res = await signedRequest(server, { method: 'GET', rawPath: '/bkt-cond/k', headers: { 'if-none-match': current } });
  assert.equal(res.status, 304);
  assert.equal(res.body, '');
  assert.equal((await signedRequest(server, { method: 'GET', rawPath: '/bkt-cond/k', headers: { 'if-none-match': etag } })).body, 'version two');
});
