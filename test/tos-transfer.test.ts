import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { TosClient } from '@volcengine/tos-sdk';
import { ArkBatchError } from '../lib/errors.ts';
import { startLocalServer, type LocalServer, type LocalServerOptions } from '../lib/local/server.ts';
import { createTosClient, parseTosUri } from '../lib/tos/client.ts';
import { crc64, crc64ToString } from '../lib/tos/crc64.ts';
import { downloadToFile, tosObjectStream } from '../lib/tos/download.ts';
import { listObjects } from '../lib/tos/list.ts';
import { MAX_PART_SIZE, MIN_PART_SIZE, planParts } from '../lib/tos/part-size.ts';
import { tosUploadStream, type TosUploadOptions } from '../transforms/tos-upload-stream.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const BUCKET = 'bkt-transfer';
const FAST = { minPartSize: KiB, retryMinTimeoutMs: 2, retryMaxTimeoutMs: 20 } as const;

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function serve(options: LocalServerOptions = {}): Promise<{ server: LocalServer; client: TosClient }> {
  const server = await startLocalServer({ minPartSize: KiB, ...options });
  const client = createTosClient({ accessKeyId: server.accessKey, secretAccessKey: server.secretKey, region: server.region, tosEndpoint: server.tosEndpoint }, { requestTimeoutMs: 2_000 });
  await client.createBucket({ bucket: BUCKET });
  return { server, client };
}

/** The input as chunks cut at the given sizes (cycled), so part boundaries fall anywhere inside writes. */
function chunked(data: Buffer, sizes: readonly number[]): Readable {
  const chunks: Buffer[] = [];
  let i = 0;
  for (let at = 0; at < data.length; i++) {
    const n = Math.max(1, sizes.length ? sizes[i % sizes.length]! : data.length);
    chunks.push(data.subarray(at, at + n));
    at += n;
  }
  return Readable.from(chunks, { objectMode: false });
}

async function upload(client: TosClient, key: string, data: Buffer, options: Partial<TosUploadOptions> = {}, sizes: readonly number[] = [7_777]) {
  const sink = tosUploadStream({ client, bucket: BUCKET, key, partSize: 4 * KiB, ...FAST, ...options });
  await pipeline(chunked(data, sizes), sink);
  return sink.result;
}

async function download(client: TosClient, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of tosObjectStream({ client, bucket: BUCKET, key, ...FAST })) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function openUploads(server: LocalServer, key?: string): Promise<number> {
  return (await server.store.listMultipartUploads(BUCKET, key === undefined ? {} : { prefix: key })).uploads.filter((u) => key === undefined || u.key === key).length;
}

/** The client with uploadPart counted (part numbers actually sent), everything else untouched. */
function countingParts(client: TosClient): { client: TosClient; sent: number[]; sizes: Map<number, number> } {
  const sent: number[] = [];
  const sizes = new Map<number, number>();
  const spy = Object.create(client) as TosClient;
  spy.uploadPart = ((input: Parameters<TosClient['uploadPart']>[0]) => {
    sent.push(input.partNumber);
    sizes.set(input.partNumber, (input.body as Buffer).length);
    return client.uploadPart(input);
  }) as TosClient['uploadPart'];
  return { client: spy, sent, sizes };
}

describe('part planning', () => {
  test('a known size keeps the requested part size while it fits in 10,000 parts', () => {
    const plan = planParts({ partSize: 8 * MiB, expectedSize: 50 * 1024 * MiB });
    assert.equal(plan.fixed, true);
    assert.equal(plan.sizeOf(1), 8 * MiB);
    assert.equal(plan.sizeOf(9_999), 8 * MiB);
  });

  test('a known size too big for 10,000 parts raises the part size to whole MiB up front', () => {
    const size = 200 * 1024 * MiB + 1;
    const plan = planParts({ partSize: 8 * MiB, expectedSize: size });
    assert.equal(plan.sizeOf(1) % MiB, 0);
    assert.ok(plan.sizeOf(1) * 10_000 >= size);
    assert.ok((plan.sizeOf(1) - MiB) * 10_000 < size);
  });

  test('an unknown size doubles the part size every step, so capacity grows geometrically', () => {
    const plan = planParts({ partSize: 1_000, minPartSize: 1_000, maxParts: 10, partsPerStep: 3 });
    assert.deepEqual(Array.from({ length: 10 }, (_, i) => plan.sizeOf(i + 1)), [1000, 1000, 1000, 2000, 2000, 2000, 4000, 4000, 4000, 8000]);
    assert.equal(plan.capacity, 3000 + 6000 + 12000 + 8000);
  });

  test('the default plan for a stream reaches terabytes in 10,000 parts and never passes 5 GiB parts', () => {
    const plan = planParts();
    assert.equal(plan.sizeOf(1), 8 * MiB);
    assert.equal(plan.sizeOf(1001), 16 * MiB);
    assert.ok(plan.capacity > 7 * 1024 ** 4);
    assert.ok(plan.sizeOf(10_000) <= MAX_PART_SIZE);
  });

  test('part sizes under 5 MiB are refused unless the minimum is lowered', () => {
    assert.throws(() => planParts({ partSize: MIN_PART_SIZE - 1 }), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_USAGE');
    assert.equal(planParts({ partSize: 4096, minPartSize: 1024 }).sizeOf(1), 4096);
  });

  test('an object larger than 10,000 parts of 5 GiB is refused before anything is sent', () => {
    assert.throws(() => planParts({ expectedSize: 10_000 * MAX_PART_SIZE + 1 }), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_FILE_TOO_LARGE');
  });
});

describe('parseTosUri', () => {
  test('splits tos://bucket/key and keeps slashes and Unicode in the key', () => {
    assert.deepEqual(parseTosUri('tos://my-bkt/dir/子 目录/a.jsonl'), { bucket: 'my-bkt', key: 'dir/子 目录/a.jsonl' });
    assert.deepEqual(parseTosUri('tos://my-bkt'), { bucket: 'my-bkt', key: '' });
  });

  test('rejects other schemes and bad bucket names with E_USAGE', () => {
    for (const bad of ['s3://b/k', 'tos:/b/k', 'tos://B/k', 'tos://ab/k', '/tmp/x']) {
      assert.throws(() => parseTosUri(bad), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_USAGE', bad);
    }
  });
});

describe('upload and download against the local service', () => {
  let server: LocalServer;
  let client: TosClient;
  before(async () => ({ server, client } = await serve()));
  after(() => server.close());

  test('empty input becomes an empty object with a single PutObject', async () => {
    const r = await upload(client, 'empty', Buffer.alloc(0));
    assert.equal(r.parts, 0);
    assert.equal(r.bytes, 0);
    assert.equal(r.crc64, '0');
    assert.equal((await download(client, 'empty')).length, 0);
  });

  test('any size in any chunking round-trips byte for byte with the CRC the server computed', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 40 * KiB }), fc.array(fc.integer({ min: 1, max: 9 * KiB }), { minLength: 1, maxLength: 6 }), async (size, sizes) => {
        const data = randomBytes(size);
        const key = `prop/${run++}/数据 😀.bin`;
        const r = await upload(client, key, data, { concurrency: 3 }, sizes);
        assert.equal(r.bytes, size);
        assert.equal(r.crc64, crc64ToString(crc64(data)));
        assert.equal(r.parts, size <= 4 * KiB ? 0 : Math.ceil(size / (4 * KiB)));
        assert.equal(sha(await download(client, key)), sha(data));
      }),
      { numRuns: 25 },
    );
    assert.equal(await openUploads(server), 0);
  });

  test('an input of exactly one part is a PutObject, one byte more is two parts', async () => {
    assert.equal((await upload(client, 'one', randomBytes(4 * KiB))).parts, 0);
    const r = await upload(client, 'two', randomBytes(4 * KiB + 1));
    assert.equal(r.parts, 2);
    assert.equal((await download(client, 'two')).length, 4 * KiB + 1);
  });

  test('a stream of unknown length grows its parts on schedule and fails cleanly past the last part number', async () => {
    const growth = { partSize: KiB, partsPerStep: 3, maxParts: 6 };
    const fits = randomBytes(8 * KiB);
    const counted = countingParts(client);
    const r = await upload(counted.client, 'grown', fits, growth, [700]);
    assert.equal(r.parts, 6);
    assert.deepEqual([...counted.sizes].sort((a, b) => a[0] - b[0]).map(([, size]) => size), [KiB, KiB, KiB, 2 * KiB, 2 * KiB, KiB]);
    assert.equal(sha(await download(client, 'grown')), sha(fits));
    await assert.rejects(upload(client, 'too-long', randomBytes(9 * KiB + 1), growth), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_FILE_TOO_LARGE');
    assert.equal(await openUploads(server, 'too-long'), 0);
  });

  test('a part that keeps failing aborts the upload, so no multipart upload stays open', async () => {
    const failing = await serve({ faults: 'uploadPart=1:500' });
    try {
      await assert.rejects(upload(failing.client, 'doomed', randomBytes(20 * KiB), { retries: 2 }), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_UPLOAD_PART' && e.status === 500 && e.partNumber !== undefined);
      assert.equal(await openUploads(failing.server), 0);
      await assert.rejects(failing.client.headObject({ bucket: BUCKET, key: 'doomed' }), (e: { statusCode?: number }) => e.statusCode === 404);
    } finally {
      await failing.server.close();
    }
  });

  test('destroying the stream mid-upload aborts the multipart upload', async () => {
    const sink = tosUploadStream({ client, bucket: BUCKET, key: 'destroyed', partSize: 4 * KiB, ...FAST });
    sink.write(randomBytes(20 * KiB));
    await sleep(50);
    sink.destroy();
    await assert.rejects(sink.result, (e: unknown) => e instanceof ArkBatchError && e.code === 'E_ABORTED');
    assert.equal(await openUploads(server, 'destroyed'), 0);
  });

  test('a source that fails mid-stream aborts the upload through pipeline', async () => {
    const sink = tosUploadStream({ client, bucket: BUCKET, key: 'bad-source', partSize: 4 * KiB, ...FAST });
    const source = Readable.from(
      (async function* () {
        yield randomBytes(16 * KiB);
        throw new Error('source broke');
      })(),
    );
    await assert.rejects(pipeline(source, sink), /source broke/);
    await assert.rejects(sink.result, /source broke/);
    assert.equal(await openUploads(server, 'bad-source'), 0);
  });

  test('a CRC that differs from the server’s after complete fails and deletes the object', async () => {
    const lying = Object.create(client) as TosClient;
    lying.completeMultipartUpload = (async (input: Parameters<TosClient['completeMultipartUpload']>[0]) => {
      const res = await client.completeMultipartUpload(input);
      return { ...res, data: { ...res.data, HashCrc64ecma: '12345' } };
    }) as TosClient['completeMultipartUpload'];
    await assert.rejects(upload(lying, 'corrupt', randomBytes(10 * KiB)), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_INTEGRITY');
    await assert.rejects(client.headObject({ bucket: BUCKET, key: 'corrupt' }), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  test('a complete whose answer is lost is confirmed by the object CRC instead of failing on the retry', async () => {
    const lossy = Object.create(client) as TosClient;
    let calls = 0;
    lossy.completeMultipartUpload = (async (input: Parameters<TosClient['completeMultipartUpload']>[0]) => {
      calls++;
      const res = await client.completeMultipartUpload(input);
      if (calls === 1) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      return res;
    }) as TosClient['completeMultipartUpload'];
    const data = randomBytes(10 * KiB);
    const r = await upload(lossy, 'lost-answer', data);
    assert.equal(calls, 2);
    assert.equal(r.crc64, crc64ToString(crc64(data)));
    assert.ok(r.etag.length > 0);
    assert.equal(sha(await download(client, 'lost-answer')), sha(data));
  });

  test('with a checkpoint a failed upload stays open, and the rerun sends only the missing parts', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-cp-'));
    const checkpoint = path.join(dir, 'upload.checkpoint');
    const data = randomBytes(40 * KiB);
    try {
      const flaky = Object.create(client) as TosClient;
      flaky.uploadPart = ((input: Parameters<TosClient['uploadPart']>[0]) =>
        input.partNumber >= 6 ? Promise.reject(Object.assign(new Error('denied'), { statusCode: 403, code: 'AccessDenied' })) : client.uploadPart(input)) as TosClient['uploadPart'];
      await assert.rejects(upload(flaky, 'resumed', data, { checkpoint, concurrency: 1 }), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_UPLOAD_PART' && e.partNumber === 6);
      assert.equal(await openUploads(server, 'resumed'), 1);
      const saved = JSON.parse(await fs.readFile(checkpoint, 'utf8'));
      assert.deepEqual(saved.parts.map((p: { partNumber: number }) => p.partNumber), [1, 2, 3, 4, 5]);

      const counted = countingParts(client);
      const r = await upload(counted.client, 'resumed', data, { checkpoint, concurrency: 2 }, [3_333]);
      assert.deepEqual(counted.sent.sort((a, b) => a - b), [6, 7, 8, 9, 10]);
      assert.equal(r.partsReused, 5);
      assert.equal(r.partsSent, 5);
      assert.equal(sha(await download(client, 'resumed')), sha(data));
      assert.equal(await openUploads(server, 'resumed'), 0);
      await assert.rejects(fs.access(checkpoint));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('a resume with different input fails on the CRC of a re-read part instead of mixing two inputs', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-cp-'));
    const checkpoint = path.join(dir, 'cp.json');
    try {
      const flaky = Object.create(client) as TosClient;
      flaky.uploadPart = ((input: Parameters<TosClient['uploadPart']>[0]) =>
        input.partNumber >= 3 ? Promise.reject(Object.assign(new Error('denied'), { statusCode: 403 })) : client.uploadPart(input)) as TosClient['uploadPart'];
      await assert.rejects(upload(flaky, 'changed', randomBytes(20 * KiB), { checkpoint, concurrency: 1 }));
      await assert.rejects(upload(client, 'changed', randomBytes(20 * KiB), { checkpoint }), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_INTEGRITY' && e.partNumber === 1);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('kill -9 mid-upload, then a rerun with the checkpoint sends only the parts that are missing', async () => {
    const slow = await serve({ latencyMs: 25 });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-kill-'));
    const file = path.join(dir, 'input.bin');
    const checkpoint = path.join(dir, 'cp.json');
    const data = randomBytes(60 * 2 * KiB);
    await fs.writeFile(file, data);
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'helpers', 'upload-child.ts'), slow.server.tosEndpoint, BUCKET, 'killed', file, checkpoint, String(2 * KiB)], { stdio: 'ignore' });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      let done: number[] = [];
      while (done.length < 5) {
        await sleep(20);
        done = await fs.readFile(checkpoint, 'utf8').then((t) => JSON.parse(t).parts.map((p: { partNumber: number }) => p.partNumber), () => []);
      }
      child.kill('SIGKILL');
      await exited;
      const uploaded = (await slow.server.store.listMultipartUploads(BUCKET)).uploads;
      assert.equal(uploaded.length, 1);
      // A part whose body arrived before the kill may still be landing on the server: wait until
      // the server's part list stops changing, then resume against that.
      const partsNow = async () => (await slow.server.store.listParts(BUCKET, 'killed', uploaded[0]!.uploadId)).parts.map((p) => p.partNumber).join(',');
      let before = await partsNow();
      for (;;) {
        await sleep(150);
        const after = await partsNow();
        if (after === before) break;
        before = after;
      }
      const onServer = before.split(',').filter(Boolean).map(Number);
      assert.ok(onServer.length >= 5 && onServer.length < 60, `parts on server: ${onServer.length}`);

      const counted = countingParts(slow.client);
      const r = await upload(counted.client, 'killed', data, { checkpoint, partSize: 2 * KiB });
      assert.equal(r.partsReused, onServer.length);
      assert.deepEqual(counted.sent.sort((a, b) => a - b), Array.from({ length: 60 }, (_, i) => i + 1).filter((n) => !onServer.includes(n)));
      assert.equal(sha(await download(slow.client, 'killed')), sha(data));
      assert.equal(await openUploads(slow.server), 0);
    } finally {
      await slow.server.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('listObjects pages through keys and groups prefixes with a delimiter', async () => {
    for (const k of ['ls/a', 'ls/b', 'ls/c/d', 'ls/e']) await upload(client, k, Buffer.from(k));
    const flat = [];
    for await (const e of listObjects({ client, bucket: BUCKET, prefix: 'ls/', pageSize: 2 })) flat.push(e);
    assert.deepEqual(flat.map((e) => e.key), ['ls/a', 'ls/b', 'ls/c/d', 'ls/e']);
    assert.deepEqual(flat.map((e) => (e.type === 'object' ? e.size : -1)), [4, 4, 6, 4]);
    const grouped = [];
    for await (const e of listObjects({ client, bucket: BUCKET, prefix: 'ls/', delimiter: '/' })) grouped.push(`${e.type}:${e.key}`);
    assert.deepEqual(grouped.sort(), ['object:ls/a', 'object:ls/b', 'object:ls/e', 'prefix:ls/c/']);
  });

  test('a download whose bytes disagree with the object CRC fails and leaves no file', async () => {
    await upload(client, 'dl/crc', randomBytes(9 * KiB));
    const lying = Object.create(client) as TosClient;
    lying.headObject = (async (input: Parameters<TosClient['headObject']>[0]) => {
      const res = await client.headObject(input);
      return { ...res, data: { ...res.data, 'x-tos-hash-crc64ecma': '1' } };
    }) as TosClient['headObject'];
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-dl-'));
    try {
      await assert.rejects(downloadToFile({ client: lying, bucket: BUCKET, key: 'dl/crc', path: path.join(dir, 'out.bin'), ...FAST }), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_INTEGRITY');
      assert.deepEqual(await fs.readdir(dir), []);
      const r = await downloadToFile({ client, bucket: BUCKET, key: 'dl/crc', path: path.join(dir, 'out.bin'), ...FAST });
      assert.equal(r.bytes, 9 * KiB);
      assert.deepEqual(await fs.readdir(dir), ['out.bin']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('a ranged read returns exactly the requested bytes', async () => {
    const data = randomBytes(10 * KiB);
    await upload(client, 'dl/range', data);
    const parts: Buffer[] = [];
    for await (const c of tosObjectStream({ client, bucket: BUCKET, key: 'dl/range', rangeStart: 100, rangeEnd: 5_000 })) parts.push(c as Buffer);
    assert.deepEqual(Buffer.concat(parts), data.subarray(100, 5_001));
  });
});

describe('transfers under injected faults', () => {
  test('20 % failing parts, resets and stalls: the upload completes and the download is byte-identical', async () => {
    const { server, client } = await serve({
      faults: 'uploadPart=0.2:500,createMultipartUpload=0.3:reset,completeMultipartUpload=0.3:503,putObject=0.3:reset,getObject=0.5:reset,headObject=0.2:stall:3000',
      seed: 3,
    });
    const retried: string[] = [];
    try {
      const data = randomBytes(300 * KiB);
      const r = await upload(client, 'faulty/big.bin', data, { concurrency: 4, onRetry: (e) => retried.push(e.code) });
      assert.equal(r.parts, 75);
      assert.ok(retried.includes('E_UPLOAD_PART'));
      const resumed: string[] = [];
      const got: Buffer[] = [];
      for await (const c of tosObjectStream({ client, bucket: BUCKET, key: 'faulty/big.bin', ...FAST, onRetry: (e) => resumed.push(e.detail) })) got.push(c as Buffer);
      assert.equal(sha(Buffer.concat(got)), sha(data));
      assert.ok(resumed.length > 0, 'the download met at least one reset');
      assert.equal(await openUploads(server), 0);
    } finally {
      await server.close();
    }
  });

  test('a fast producer is paused: bytes accepted never run more than (concurrency + 1) parts ahead of finished parts', async () => {
    const { server, client } = await serve({ latencyMs: 10 });
    try {
      const partSize = 4 * KiB;
      const concurrency = 2;
      let worst = 0;
      const data = randomBytes(64 * partSize);
      await upload(client, 'paced', data, {
        partSize,
        concurrency,
        onProgress: (p) => (worst = Math.max(worst, p.bytes - p.partsDone * partSize)),
      }, [1_000]);
      assert.ok(worst > partSize, `the uploader did buffer ahead (${worst})`);
      assert.ok(worst <= (concurrency + 1) * partSize + 1_000, `ran ${worst} bytes ahead`);
      assert.equal(sha(await download(client, 'paced')), sha(data));
    } finally {
      await server.close();
    }
  });

  test('stalled part uploads time out and are retried', async () => {
    const { server } = await serve({ faults: 'uploadPart=0.3:stall:1500', seed: 3 });
    const client = createTosClient({ accessKeyId: server.accessKey, secretAccessKey: server.secretKey, region: server.region, tosEndpoint: server.tosEndpoint }, { requestTimeoutMs: 300 });
    try {
      const data = randomBytes(24 * KiB);
      const retried: string[] = [];
      await upload(client, 'stalled', data, { onRetry: (e) => retried.push(e.message) });
      assert.ok(retried.length > 0);
      assert.equal(sha(await download(client, 'stalled')), sha(data));
    } finally {
      await server.close();
    }
  });
});

describe('5 MiB boundaries with the real minimum part size', () => {
  let server: LocalServer;
  let client: TosClient;
  before(async () => ({ server, client } = await serve({ minPartSize: MIN_PART_SIZE })));
  after(() => server.close());

  for (const [name, size, parts] of [
    ['5 MiB - 1', 5 * MiB - 1, 0],
    ['exactly 5 MiB', 5 * MiB, 0],
    ['5 MiB + 1', 5 * MiB + 1, 2],
  ] as const) {
    test(`an input of ${name} with 5 MiB parts uploads as ${parts === 0 ? 'one PutObject' : `${parts} parts`} and round-trips`, async () => {
      const data = randomBytes(size);
      const r = await upload(client, `b/${size}`, data, { partSize: MIN_PART_SIZE, minPartSize: MIN_PART_SIZE }, [64 * KiB + 3]);
      assert.equal(r.parts, parts);
      assert.equal(r.crc64, crc64ToString(crc64(data)));
      assert.equal(sha(await download(client, `b/${size}`)), sha(data));
    });
  }
});
