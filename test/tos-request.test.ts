import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { parseRange, parseTosRequest } from '../lib/local/tos-request.ts';

function req(method: string, url: string, host: string, headers: Record<string, string> = {}): IncomingMessage {
  return { method, url, headers: { host, ...headers } } as unknown as IncomingMessage;
}

test('path style: the first path segment is the bucket, the rest (with %2F decoded) the key', () => {
  const p = parseTosRequest(req('PUT', '/bkt-a/dir%2Fsub%20dir%2Fa%2Bb(1)!*~.txt', '127.0.0.1:9000'));
  assert.deepEqual([p.operation, p.bucket, p.key, p.virtualHost], ['putObject', 'bkt-a', 'dir/sub dir/a+b(1)!*~.txt', false]);
  assert.equal(parseTosRequest(req('PUT', '/bkt-a/', 'localhost:9')).operation, 'createBucket');
  assert.equal(parseTosRequest(req('GET', '/', 'tos-mock:9000')).operation, 'listBuckets');
});

test('virtual-host style: the bucket comes from Host bucket.tos-<region>.<domain>; the bare service host lists buckets', () => {
  const p = parseTosRequest(req('GET', '/a%2Fb', 'bkt-v.tos-cn-beijing.volces.com'));
  assert.deepEqual([p.operation, p.bucket, p.key, p.virtualHost], ['getObject', 'bkt-v', 'a/b', true]);
  assert.equal(parseTosRequest(req('GET', '/', 'tos-cn-beijing.volces.com')).operation, 'listBuckets');
  const abs = parseTosRequest(req('HEAD', 'http://bkt-v.tos-cn-beijing.volces.com/k', 'bkt-v.tos-cn-beijing.volces.com'));
  assert.deepEqual([abs.operation, abs.bucket, abs.key], ['headObject', 'bkt-v', 'k']);
});

test('operations are named like the SDK methods, from method, query and headers', () => {
  const cases: [string, string, Record<string, string>, string][] = [
    ['POST', '/b-1/k?uploads=', {}, 'createMultipartUpload'],
    ['PUT', '/b-1/k?partNumber=1&uploadId=u', {}, 'uploadPart'],
    ['POST', '/b-1/k?uploadId=u', {}, 'completeMultipartUpload'],
    ['DELETE', '/b-1/k?uploadId=u', {}, 'abortMultipartUpload'],
    ['GET', '/b-1/k?uploadId=u&max-parts=2', {}, 'listParts'],
    ['GET', '/b-1/?uploads', {}, 'listMultipartUploads'],
    ['GET', '/b-1/?list-type=2&prefix=a+b&list-only-once=true', {}, 'listObjectsType2'],
    ['GET', '/b-1/?prefix=a', {}, 'listObjects'],
    ['HEAD', '/b-1/', {}, 'headBucket'],
    ['DELETE', '/b-1/', {}, 'deleteBucket'],
    ['DELETE', '/b-1/k', {}, 'deleteObject'],
    ['PUT', '/b-1/k', { 'x-tos-copy-source': '/b-2/k' }, 'unsupported'],
    ['GET', '/b-1/k?acl', {}, 'unsupported'],
    ['PATCH', '/b-1/k', {}, 'unsupported'],
  ];
  for (const [method, url, headers, op] of cases) assert.equal(parseTosRequest(req(method, url, '127.0.0.1:1', headers)).operation, op, `${method} ${url}`);
});

test('Range: bytes=a-b, a-, -n; clamped to the object; unsatisfiable past the end; odd syntax serves the whole object', () => {
  assert.deepEqual(parseRange('bytes=10-19', 20), { start: 10, end: 19 });
  assert.deepEqual(parseRange('bytes=15-', 20), { start: 15, end: 19 });
  assert.deepEqual(parseRange('bytes=-3', 20), { start: 17, end: 19 });
  assert.deepEqual(parseRange('bytes=-30', 20), { start: 0, end: 19 });
  assert.deepEqual(parseRange('bytes=18-100', 20), { start: 18, end: 19 });
  assert.equal(parseRange('bytes=20-30', 20), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-0', 0), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 20), 'unsatisfiable');
  assert.equal(parseRange(undefined, 20), null);
  assert.equal(parseRange('bytes=5-2', 20), null);
  assert.equal(parseRange('bytes=1-2,4-5', 20), null);
  assert.equal(parseRange('items=1-2', 20), null);
});

test('property: a satisfiable range always lies inside the object', () => {
  fc.assert(
    fc.property(fc.nat(1000), fc.option(fc.nat(1200)), fc.option(fc.nat(1200)), (size, a, b) => {
      const r = parseRange(`bytes=${a ?? ''}-${b ?? ''}`, size);
      if (r && r !== 'unsatisfiable') assert.ok(r.start >= 0 && r.start <= r.end && r.end < size, JSON.stringify({ size, a, b, r }));
    }),
  );
});
