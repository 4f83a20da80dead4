import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ArkApiError, createArkOpenApiClient, parseRetryAfter, type RetryInfo } from '../lib/ark/openapi-client.ts';
import { exitCodeFor } from '../lib/errors.ts';
import { startArkService } from './helpers/ark-service.ts';

/** A loopback server answering each request with the next scripted reply. */
async function scripted(t: { after: (fn: () => Promise<void>) => void }, replies: Array<{ status: number; headers?: Record<string, string>; body: string }>) {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ? 'signed' : 'unsigned'} ${req.headers['x-security-token'] ?? ''}`);
    req.resume();
    const r = replies[Math.min(seen.length - 1, replies.length - 1)];
    res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
    res.end(r.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const ok = (result: unknown) => JSON.stringify({ ResponseMetadata: { RequestId: '20250101000000ABCDEF0123456789ABCDEF', Action: 'X', Version: '2024-01-01' }, Result: result });
const creds = { accessKeyId: 'AK', secretAccessKey: 'SK' };

test('a signed call returns the Result and the RequestId from the local service', async (t) => {
  const svc = await startArkService(t);
  const res = await svc.client.call<{ TotalCount: number; Items: unknown[] }>('ListBatchInferenceJobs', {});
  assert.equal(res.result.TotalCount, 0);
  assert.match(res.requestId, /^\d{14}[0-9A-F]{20}$/);
});

test('STS credentials send X-Security-Token, signed, and the service accepts them', async (t) => {
  const svc = await startArkService(t);
  const sts = createArkOpenApiClient({
    endpoint: svc.server.openapiEndpoint,
    credentials: { accessKeyId: svc.server.accessKey, secretAccessKey: svc.server.secretKey, sessionToken: 'sts-token-value' },
    region: svc.server.region,
  });
  t.after(() => sts.close());
  assert.equal((await sts.call<{ TotalCount: number }>('ListBatchInferenceJobs', {})).result.TotalCount, 0);
  const fake = await scripted(t, [{ status: 200, body: ok({}) }]);
  const c = createArkOpenApiClient({ endpoint: fake.endpoint, credentials: { ...creds, sessionToken: 'tok' }, region: 'cn-beijing' });
  t.after(() => c.close());
  await c.call('GetBatchInferenceJob', { Id: 'x' });
  assert.equal(fake.seen[0], 'POST /?Action=GetBatchInferenceJob&Version=2024-01-01 signed tok');
});

test('a service error becomes E_ARK_API with Code, CodeN, Message, RequestId and status, and is not retried', async (t) => {
  const svc = await startArkService(t);
  const retries: RetryInfo[] = [];
  const bad = createArkOpenApiClient({
    endpoint: svc.server.openapiEndpoint,
    credentials: { accessKeyId: svc.server.accessKey, secretAccessKey: 'not-the-secret' },
    region: svc.server.region,
    onRetry: (r) => retries.push(r),
  });
  t.after(() => bad.close());
  const err = await bad.call('ListBatchInferenceJobs', {}).then(() => assert.fail('expected a failure'), (e: unknown) => e as ArkApiError);
  assert.ok(err instanceof ArkApiError);
  assert.deepEqual([err.code, err.remoteCode, err.codeN, err.status, err.retryable], ['E_ARK_API', 'SignatureDoesNotMatch', 100010, 401, false]);
  assert.match(err.remoteMessage, /signature we calculated does not match/);
  assert.match(err.requestId ?? '', /^\d{14}[0-9A-F]{20}$/);
  assert.ok(!err.message.includes('not-the-secret'), 'the secret never appears in an error');
  assert.equal(exitCodeFor(err), 3);
  assert.equal(retries.length, 0);

  const missing = await svc.client.call('GetBatchInferenceJob', { Id: 'bi-20250101000000-aaaaa' }).catch((e: ArkApiError) => e);
  assert.deepEqual([(missing as ArkApiError).remoteCode, (missing as ArkApiError).status], ['NotFound.BatchInferenceJob', 404]);
});

test('503s are retried with backoff until the retries run out, then the last error surfaces', async (t) => {
  const svc = await startArkService(t, { faults: 'openapi=1:503' });
  const retries: RetryInfo[] = [];
  const c = createArkOpenApiClient({
    endpoint: svc.server.openapiEndpoint,
    credentials: { accessKeyId: svc.server.accessKey, secretAccessKey: svc.server.secretKey },
    region: svc.server.region,
    retries: 2,
    minRetryDelayMs: 1,
    maxRetryDelayMs: 5,
    onRetry: (r) => retries.push(r),
  });
  t.after(() => c.close());
  const err = (await c.call('ListBatchInferenceJobs', {}).catch((e: unknown) => e)) as ArkApiError;
  assert.deepEqual([err.status, err.retryable, err.remoteCode], [503, true, 'InternalError']);
  assert.deepEqual(retries.map((r) => [r.attempt, r.retriesLeft]), [[1, 2], [2, 1]]);
});

test('Retry-After on a 429 is waited out before the next attempt', async (t) => {
  const fake = await scripted(t, [
    { status: 429, headers: { 'retry-after': '2' }, body: JSON.stringify({ ResponseMetadata: { RequestId: 'r1', Error: { Code: 'FlowLimitExceeded', CodeN: 100018, Message: 'slow down' } } }) },
    { status: 502, body: '<html>bad gateway</html>' },
    { status: 200, body: ok({ Id: 'bi-1' }) },
  ]);
  const waits: number[] = [];
  const retries: RetryInfo[] = [];
  const c = createArkOpenApiClient({
    endpoint: fake.endpoint,
    credentials: creds,
    region: 'cn-beijing',
    minRetryDelayMs: 1,
    maxRetryDelayMs: 2,
    delay: async (ms) => {
      waits.push(ms);
    },
    onRetry: (r) => retries.push(r),
  });
  t.after(() => c.close());
  const res = await c.call<{ Id: string }>('CreateBatchInferenceJob', {});
  assert.equal(res.result.Id, 'bi-1');
  assert.deepEqual(waits, [2000]);
  assert.deepEqual(retries.map((r) => [r.error.status, r.error.remoteCode, r.retryAfterMs]), [[429, 'FlowLimitExceeded', 2000], [502, 'HTTP502', undefined]]);
  assert.match(retries[1].error.message, /not JSON/);
});

test('a refused connection is a retryable network error that ends as E_ARK_API naming the cause', async (t) => {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  const retries: RetryInfo[] = [];
  const c = createArkOpenApiClient({ endpoint: `http://127.0.0.1:${port}`, credentials: creds, region: 'cn-beijing', retries: 1, minRetryDelayMs: 1, maxRetryDelayMs: 1, onRetry: (r) => retries.push(r) });
  t.after(() => c.close());
  const err = (await c.call('ListBatchInferenceJobs', {}).catch((e: unknown) => e)) as ArkApiError;
  assert.equal(err.code, 'E_ARK_API');
  assert.equal(err.remoteCode, 'ECONNREFUSED');
  assert.equal(retries.length, 1);
});

test('an aborted call stops retrying and reports E_ABORTED', async (t) => {
  const svc = await startArkService(t, { faults: 'openapi=1:503' });
  const controller = new AbortController();
  const c = createArkOpenApiClient({
    endpoint: svc.server.openapiEndpoint,
    credentials: { accessKeyId: svc.server.accessKey, secretAccessKey: svc.server.secretKey },
    region: svc.server.region,
    minRetryDelayMs: 1,
    maxRetryDelayMs: 1,
    onRetry: () => controller.abort(new Error('user stop')),
  });
  t.after(() => c.close());
  await assert.rejects(c.call('ListBatchInferenceJobs', {}, { signal: controller.signal }), (e: ArkApiError) => e.code === 'E_ABORTED' && /ListBatchInferenceJobs aborted/.test(e.message));
});

test('Retry-After takes seconds or an HTTP date', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter('0.5'), 500);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
});
