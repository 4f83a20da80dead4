import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { TosServerError } from '@volcengine/tos-sdk';
import { request } from 'undici';
import { createFaults } from '../lib/local/faults.ts';
import { LOCAL_ACCESS_KEY, LOCAL_API_KEY, LOCAL_SECRET_KEY, startLocalServer, type LocalServer } from '../lib/local/server.ts';
import { sdkClient, signedRequest } from './helpers/tos.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/serve-cli.ts', import.meta.url));

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-serve-test-'));
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

/** Starts `serve` in a child process and resolves with its JSON line; the child is killed when the test ends. */
async function spawnServe(t: TestContext, args: string[]): Promise<{ child: ChildProcess; info: Record<string, string>; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  let out = '';
  for await (const chunk of child.stdout!) {
    out += chunk;
    if (out.includes('\n')) break;
  }
  if (!out.includes('\n')) throw new Error(`serve exited without its JSON line: ${err}`);
  return { child, info: JSON.parse(out.slice(0, out.indexOf('\n'))), stderr: () => err };
}

test('startLocalServer answers on 127.0.0.1 with the documented defaults and removes its temp data dir on close', async () => {
  const server = await startLocalServer();
  assert.match(server.tosEndpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(server.openapiEndpoint, server.tosEndpoint);
  assert.equal(server.chatBaseUrl, `${server.tosEndpoint}/api/v3`);
  assert.deepEqual([server.accessKey, server.secretKey, server.apiKey, server.region], [LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, LOCAL_API_KEY, 'cn-beijing']);
  assert.equal(await exists(server.dataDir), true);
  await server.close();
  await server.close();
  assert.equal(await exists(server.dataDir), false);
});

test('requests route by path and query: /api/v3/ → chat, ?Action= → OpenAPI, anything else → TOS; a missing handler answers 501', async () => {
  const seen: string[] = [];
  let closed = 0;
  const server = await startLocalServer({
    chat: (ctx) => async (req, res) => {
      seen.push(`chat ${req.method} ${req.url} ${ctx.apiKey}`);
      res.end('chat');
    },
    openapi: (ctx) => ({
      handler: async (req, res) => {
        seen.push(`openapi ${req.url} ${ctx.region} ${typeof ctx.store.putObject}`);
        res.end('openapi');
      },
      close: async () => void closed++,
    }),
  });
  try {
    assert.equal(await (await request(`${server.chatBaseUrl}/chat/completions`, { method: 'POST', body: '{}' })).body.text(), 'chat');
    assert.equal(await (await request(`${server.openapiEndpoint}/?Action=ListBatchInferenceJobs&Version=2024-01-01`, { method: 'POST', body: '{}' })).body.text(), 'openapi');
    const tos = await request(`${server.tosEndpoint}/bkt/key?Actions=1`);
    assert.equal(tos.statusCode, 403);
    assert.equal(JSON.parse(await tos.body.text()).Code, 'AccessDenied');
    assert.deepEqual(seen, [`chat POST /api/v3/chat/completions ${LOCAL_API_KEY}`, 'openapi /?Action=ListBatchInferenceJobs&Version=2024-01-01 cn-beijing function']);
  } finally {
    await server.close();
  }
  assert.equal(closed, 1);
  const bare = await startLocalServer({ chat: false, openapi: false });
  try {
    const res = await request(`${bare.chatBaseUrl}/chat/completions`, { method: 'POST', body: '{"a":1}' });
    assert.equal(res.statusCode, 501);
    assert.equal(JSON.parse(await res.body.text()).error.code, 'NotImplemented');
  } finally {
    await bare.close();
  }
});

test('a seeded uploadPart=0.3:500 fault fails exactly the calls createFaults predicts, as TOS 500 errors', async () => {
  const spec = 'uploadPart=0.3:500';
  const server = await startLocalServer({ faults: spec, seed: 11 });
  try {
    const client = sdkClient(server, 'path');
    await client.createBucket({ bucket: 'bkt-f' });
    const { data } = await client.createMultipartUpload({ bucket: 'bkt-f', key: 'k' });
    const predicted = createFaults(spec, 11);
    const expected: boolean[] = [];
    const actual: boolean[] = [];
    for (let i = 1; i <= 30; i++) {
      expected.push(predicted.decide('uploadPart') !== null);
      try {
        await client.uploadPart({ bucket: 'bkt-f', key: 'k', uploadId: data.UploadId, partNumber: i, body: Buffer.alloc(1000, i) });
        actual.push(false);
      } catch (err) {
        assert.ok(err instanceof TosServerError);
        assert.equal(err.statusCode, 500);
        assert.ok(err.requestId);
        actual.push(true);
      }
    }
    assert.deepEqual(actual, expected);
    const failures = actual.filter(Boolean).length;
    assert.ok(failures > 0 && failures < 30, `${failures} failures`);
    // Other operations are untouched, and the SDK's own retries get through a 500.
    const retrying = sdkClient(server, 'path', { maxRetryCount: 10 });
    for (let i = 1; i <= 5; i++) await retrying.uploadPart({ bucket: 'bkt-f', key: 'k', uploadId: data.UploadId, partNumber: i, body: Buffer.alloc(10, i) });
    assert.equal((await client.listParts({ bucket: 'bkt-f', key: 'k', uploadId: data.UploadId })).data.Parts.length >= 5, true);
  } finally {
    await server.close();
  }
});

test('a reset fault on getObject cuts the body mid-stream; on other operations it drops the connection', async () => {
  const server = await startLocalServer({ faults: 'getObject=1:reset,putObject=0:500,headObject=1:reset' });
  try {
    const client = sdkClient(server, 'path');
    await client.createBucket({ bucket: 'bkt-r' });
    const body = Buffer.alloc(256 * 1024, 'x');
    await client.putObject({ bucket: 'bkt-r', key: 'k', body });
    let received = 0;
    await assert.rejects(async () => {
      const { data } = await client.getObjectV2({ bucket: 'bkt-r', key: 'k' });
      for await (const chunk of data.content) received += (chunk as Buffer).length;
    });
    assert.ok(received < body.length, `received ${received} of ${body.length}`);
    const err = await client.headObject({ bucket: 'bkt-r', key: 'k' }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err && !(err instanceof TosServerError), 'a reset is a network error, not a server answer');
  } finally {
    await server.close();
  }
});

test('status faults on chat and OpenAPI answer in each protocol’s error shape; an action rule beats the openapi rule', async () => {
  const server = await startLocalServer({ faults: 'chat=1:429,GetBatchInferenceJob=1:500,openapi=1:429' });
  try {
    const chat = await request(`${server.chatBaseUrl}/chat/completions`, { method: 'POST', body: '{}' });
    assert.equal(chat.statusCode, 429);
    assert.equal(chat.headers['retry-after'], '1');
    const chatBody = JSON.parse(await chat.body.text());
    assert.equal(chatBody.error.code, 'RateLimitExceeded.EndpointRPMExceeded');
    assert.ok(chat.headers['x-request-id']);
    const get = await request(`${server.openapiEndpoint}/?Action=GetBatchInferenceJob&Version=2024-01-01`, { method: 'POST', body: '{}' });
    assert.equal(get.statusCode, 500);
    const meta = JSON.parse(await get.body.text()).ResponseMetadata;
    assert.deepEqual([meta.Action, meta.Version, meta.Error.Code], ['GetBatchInferenceJob', '2024-01-01', 'InternalError']);
    const list = await request(`${server.openapiEndpoint}/?Action=ListBatchInferenceJobs&Version=2024-01-01`, { method: 'POST', body: '{}' });
    assert.equal(list.statusCode, 429);
    assert.equal(JSON.parse(await list.body.text()).ResponseMetadata.Error.Code, 'FlowLimitExceeded');
  } finally {
    await server.close();
  }
});

test('a stalled request is answered normally once the stall ends; close() ends a stall in progress', async () => {
  const server = await startLocalServer({ faults: 'createBucket=1:stall:20,headBucket=1:stall:600000' });
  const client = sdkClient(server, 'path');
  await client.createBucket({ bucket: 'bkt-s' });
  const stuck = client.headBucket('bkt-s').then(
    () => 'answered',
    () => 'failed',
  );
  // Give the request time to reach the server before closing under it.
  await new Promise((resolve) => setTimeout(resolve, 100));
  await server.close();
  assert.equal(await stuck, 'failed');
});

test('objects and an unfinished multipart upload survive a restart on the same data dir', async () => {
  const dataDir = await tempDir();
  try {
    const first = await startLocalServer({ dataDir });
    const c1 = sdkClient(first, 'path');
    await c1.createBucket({ bucket: 'bkt-keep' });
    await c1.putObject({ bucket: 'bkt-keep', key: 'a/ü.txt', body: Buffer.from('persisted') });
    const { data } = await c1.createMultipartUpload({ bucket: 'bkt-keep', key: 'mp' });
    const part = await c1.uploadPart({ bucket: 'bkt-keep', key: 'mp', uploadId: data.UploadId, partNumber: 1, body: Buffer.from('part one') });
    await first.close();
    assert.equal(await exists(dataDir), true);

    const second = await startLocalServer({ dataDir });
    try {
      const c2 = sdkClient(second, 'virtual-host');
      assert.equal((await readAll((await c2.getObjectV2({ bucket: 'bkt-keep', key: 'a/ü.txt' })).data.content)).toString(), 'persisted');
      const uploads = await c2.listMultipartUploads({ bucket: 'bkt-keep' });
      assert.deepEqual(uploads.data.Uploads.map((u) => u.UploadId), [data.UploadId]);
      await c2.completeMultipartUpload({ bucket: 'bkt-keep', key: 'mp', uploadId: data.UploadId, parts: [{ partNumber: 1, eTag: part.data.ETag }] });
      assert.equal((await readAll((await c2.getObjectV2({ bucket: 'bkt-keep', key: 'mp' })).data.content)).toString(), 'part one');
    } finally {
      await second.close();
    }
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

test('a server killed with SIGKILL in the middle of a large put leaves the previous object intact and no half object', async (t) => {
  const dataDir = await tempDir();
  try {
    const { child, info } = await spawnServe(t, ['--data', dataDir]);
    const endpoint = { tosEndpoint: info.tosEndpoint, accessKey: info.accessKey, secretKey: info.secretKey, region: info.region };
    const client = sdkClient(endpoint, 'path');
    await client.createBucket({ bucket: 'bkt-kill' });
    await client.putObject({ bucket: 'bkt-kill', key: 'big', body: Buffer.from('version one') });
    const tmp = path.join(dataDir, 'tos', 'tmp');
    let sent = 0;
    const body = new Readable({
      read() {
        // Feed 4 MiB, then hold the request open until the server has spooled some of it to disk.
        if (sent < 4 * 1024 * 1024) {
          sent += 256 * 1024;
          this.push(Buffer.alloc(256 * 1024, 'v'));
        }
      },
    });
    const put = signedRequest(endpoint, {
      method: 'PUT',
      rawPath: '/bkt-kill/big',
      body,
    }).then(
      () => 'answered',
      () => 'failed',
    );
    for (let polls = 0; ; polls++) {
      assert.ok(polls < 3000, 'the server never started spooling the body');
      const files = await fs.readdir(tmp).catch(() => []);
      const sizes = await Promise.all(files.map((f) => fs.stat(path.join(tmp, f)).then((s) => s.size, () => 0)));
      if (sizes.some((s) => s > 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    child.kill('SIGKILL');
    await once(child, 'exit');
    body.destroy();
    assert.equal(await put, 'failed');

    const restarted = await startLocalServer({ dataDir });
    try {
      const c = sdkClient(restarted, 'path');
      assert.equal((await readAll((await c.getObjectV2({ bucket: 'bkt-kill', key: 'big' })).data.content)).toString(), 'version one');
      assert.deepEqual((await c.listObjectsType2({ bucket: 'bkt-kill' })).data.Contents.map((o) => [o.Key, o.Size]), [['big', 11]]);
      assert.deepEqual(await fs.readdir(tmp), []);
    } finally {
      await restarted.close();
    }
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

test('`serve` prints one JSON line with endpoints and credentials, and exits 0 on SIGTERM removing its temp dir', async (t) => {
  const { child, info, stderr } = await spawnServe(t, ['--access-key', 'AKCUSTOM', '--secret-key', 'SKCUSTOM', '--faults', 'chat=0.5:503', '--seed', '3']);
  assert.deepEqual(Object.keys(info), ['tosEndpoint', 'openapiEndpoint', 'chatBaseUrl', 'region', 'accessKey', 'secretKey', 'apiKey']);
  assert.match(info.tosEndpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(info.chatBaseUrl, `${info.tosEndpoint}/api/v3`);
  assert.deepEqual([info.accessKey, info.secretKey, info.apiKey, info.region], ['AKCUSTOM', 'SKCUSTOM', LOCAL_API_KEY, 'cn-beijing']);
  const client = sdkClient({ tosEndpoint: info.tosEndpoint, accessKey: info.accessKey, secretKey: info.secretKey, region: info.region }, 'path');
  await client.createBucket({ bucket: 'bkt-cli' });
  const dir = /data in (.+?) \(temporary\)/.exec(stderr())?.[1];
  assert.ok(dir && (await exists(dir)), stderr());
  assert.ok(!stderr().includes('SKCUSTOM'), 'the secret key is not echoed on stderr');
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
  assert.equal(await exists(dir), false);
});

test('`serve` with a malformed --faults spec fails before listening', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, 'serve', '--faults', 'uploadPart=2:500'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const [code] = await once(child, 'exit');
  assert.notEqual(code, 0);
  assert.equal(out, '');
  assert.match(err, /E_USAGE/);
});

test('a port already in use is reported as an error, and no temp data dir is left behind', async () => {
  const first = await startLocalServer();
  // A private TMPDIR (os.tmpdir() reads it per call) so other test files' servers cannot interfere.
  const privateTmp = await tempDir();
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = privateTmp;
  try {
    await assert.rejects(startLocalServer({ port: first.port }), { code: 'EADDRINUSE' });
    assert.deepEqual(await fs.readdir(privateTmp), []);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    await first.close();
    await fs.rm(privateTmp, { recursive: true, force: true });
  }
});
