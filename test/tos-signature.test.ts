import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import fc from 'fast-check';
import { ArkBatchError } from '../lib/errors.ts';
import {
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  decodePath,
  formatTosDate,
  parseRawQuery,
  signTosRequest,
  verifyTosRequest,
} from '../lib/local/tos-signature.ts';

const DATE = '20260102T030405Z';
const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const baseHeaders = { host: '127.0.0.1:9000', 'x-tos-content-sha256': 'UNSIGNED-PAYLOAD', 'x-tos-date': DATE };
const SIGNED = ['host', 'x-tos-content-sha256', 'x-tos-date'];
const creds = { accessKey: 'AKTEST', secretKey: 'SKTEST', region: 'cn-beijing' };

function sign(method: string, rawPath: string, rawQuery: string, headers: IncomingHttpHeaders = baseHeaders) {
  const signedHeaders = Object.keys(headers).filter((h) => h === 'host' || h.startsWith('x-tos-')).sort();
  return signTosRequest({ ...creds, tosDate: String(headers['x-tos-date']), method, decodedPath: decodePath(rawPath), query: parseRawQuery(rawQuery), signedHeaders, headers });
}

function remoteCode(fn: () => void): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ArkBatchError);
    return err.remoteCode;
  }
  return undefined;
}

test('signatures match the SDK’s known-answer vectors (tos.md §4)', () => {
  assert.deepEqual(SIGNED, Object.keys(baseHeaders).sort());
  assert.equal(sign('PUT', '/bkt-a/', '').signature, '0e53a001efde80bbcaa81845ea0e7217ff28b30d188115cbbe4f0acfae89be8e');
  assert.equal(sign('PUT', '/bkt-a/hello.txt', '').signature, 'abcefddafdd54b47792d87e433ea5b698b933136ad7c28baa431069ef77b52dd');
  assert.equal(sign('POST', '/bkt-a/dir%2Fa%20b.bin', 'uploads=').signature, 'c1c166fa1e8216003cf27972a9d41efe2bef6c93c6e112488084265bd010bbbe');
});

test('the canonical request with an STS token and metadata is the one the SDK signs', () => {
  const headers = {
    host: '127.0.0.1:PORT',
    'x-tos-content-sha256': 'UNSIGNED-PAYLOAD',
    'x-tos-date': '20261125T125657Z',
    'x-tos-meta-k': 'v',
    'x-tos-security-token': 'STS-TOKEN-123',
    'content-type': 'text/plain',
  };
  const signedHeaders = ['host', 'x-tos-content-sha256', 'x-tos-date', 'x-tos-meta-k', 'x-tos-security-token'];
  const text = canonicalRequest({ method: 'POST', decodedPath: decodePath('/bkt-s/%C3%BC%2Fa%20b.txt'), query: parseRawQuery('uploads='), signedHeaders, headers });
  assert.equal(
    text,
    [
      'POST',
      '/bkt-s/%C3%BC/a%20b.txt',
      'uploads=',
      'host:127.0.0.1:PORT',
      'x-tos-content-sha256:UNSIGNED-PAYLOAD',
      'x-tos-date:20261125T125657Z',
      'x-tos-meta-k:v',
      'x-tos-security-token:STS-TOKEN-123',
      '',
      'host;x-tos-content-sha256;x-tos-date;x-tos-meta-k;x-tos-security-token',
      'UNSIGNED-PAYLOAD',
    ].join('\n'),
  );
});

test('canonical URI re-encodes the decoded path like the SDK: / kept, !\'()* encoded', () => {
  assert.equal(canonicalUri(decodePath('/bkt/dir%2Fsub%20dir%2Fa%2Bb(1)!*~.txt')), '/bkt/dir/sub%20dir/a%2Bb%281%29%21%2A~.txt');
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), (key) => {
      // What the SDK puts on the wire, and what it signs.
      const wire = `/bkt/${encodeURIComponent(key)}`;
      const signed = wire.replace(/%2F/g, '/').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
      assert.equal(canonicalUri(decodePath(wire)), signed);
    }),
  );
});

test('canonical query sorts keys, treats + as a space and keeps valueless params as k=', () => {
  assert.equal(canonicalQuery(parseRawQuery('uploadId=U&partNumber=1')), 'partNumber=1&uploadId=U');
  assert.equal(canonicalQuery(parseRawQuery('prefix=a+b&list-type=2&uploads')), 'list-type=2&prefix=a%20b&uploads=');
  assert.equal(canonicalQuery(parseRawQuery('prefix=%E4%B8%AD(1)')), 'prefix=%E4%B8%AD%281%29');
});

test('a correctly signed request verifies; an STS token is signed like any x-tos header', () => {
  const headers = { ...baseHeaders, 'x-tos-security-token': 'tok' };
  const { authorization } = sign('GET', '/bkt/a.txt', 'x=1', headers);
  verifyTosRequest({ method: 'GET', decodedPath: '/bkt/a.txt', query: parseRawQuery('x=1'), headers: { ...headers, authorization } }, { ...creds, now: NOW, securityToken: 'tok' });
  assert.equal(
    remoteCode(() => verifyTosRequest({ method: 'GET', decodedPath: '/bkt/a.txt', query: parseRawQuery('x=1'), headers: { ...headers, authorization } }, { ...creds, now: NOW, securityToken: 'other' })),
    'InvalidSecurityToken',
  );
});

test('wrong secret → SignatureDoesNotMatch, unknown access key → InvalidAccessKeyId, no header → AccessDenied', () => {
  const { authorization } = sign('GET', '/bkt/a.txt', '');
  const input = { method: 'GET', decodedPath: '/bkt/a.txt', query: [], headers: { ...baseHeaders, authorization } };
  assert.equal(remoteCode(() => verifyTosRequest(input, { ...creds, now: NOW })), undefined);
  assert.equal(remoteCode(() => verifyTosRequest(input, { ...creds, secretKey: 'SKWRONG', now: NOW })), 'SignatureDoesNotMatch');
  assert.equal(remoteCode(() => verifyTosRequest(input, { ...creds, accessKey: 'AKOTHER', now: NOW })), 'InvalidAccessKeyId');
  assert.equal(remoteCode(() => verifyTosRequest({ ...input, headers: baseHeaders }, { ...creds, now: NOW })), 'AccessDenied');
  assert.equal(remoteCode(() => verifyTosRequest({ ...input, headers: { ...baseHeaders, authorization: 'Bearer x' } }, { ...creds, now: NOW })), 'AuthorizationHeaderMalformed');
  assert.equal(remoteCode(() => verifyTosRequest(input, { ...creds, region: 'cn-shanghai', now: NOW })), 'SignatureDoesNotMatch');
});

test('a clock more than 15 minutes off → RequestTimeTooSkewed, within 15 minutes passes', () => {
  const { authorization } = sign('GET', '/bkt/a.txt', '');
  const input = { method: 'GET', decodedPath: '/bkt/a.txt', query: [], headers: { ...baseHeaders, authorization } };
  assert.equal(remoteCode(() => verifyTosRequest(input, { ...creds, now: NOW + 16 * 60_000 })), 'RequestTimeTooSkewed');
  assert.equal(remoteCode(() => verifyTosRequest(input, { ...creds, now: NOW - 16 * 60_000 })), 'RequestTimeTooSkewed');
  assert.equal(remoteCode(() => verifyTosRequest(input, { ...creds, now: NOW + 14 * 60_000 })), undefined);
  assert.equal(formatTosDate(new Date(NOW)), DATE);
});

test('property: any change to method, path, query or a signed header breaks the signature', () => {
  const tamper = fc.oneof(
    fc.constantFrom('GET', 'POST', 'DELETE', 'HEAD').map((m) => ({ method: m })),
    fc.string({ minLength: 1, maxLength: 5 }).map((s) => ({ pathSuffix: s })),
    fc.tuple(fc.constantFrom('a', 'uploads', 'partNumber', 'prefix'), fc.string({ maxLength: 5 })).map(([k, v]) => ({ queryAdd: `${encodeURIComponent(k)}=${encodeURIComponent(v)}` })),
    fc.constantFrom('host', 'x-tos-meta-k', 'x-tos-content-sha256').chain((h) => fc.string({ minLength: 1, maxLength: 8 }).map((v) => ({ header: h, value: v }))),
  );
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), tamper, (key, t) => {
      const headers: Record<string, string> = { ...baseHeaders, 'x-tos-meta-k': 'v' };
      const rawPath = `/bkt/${encodeURIComponent(key)}`;
      const rawQuery = 'uploadId=U&partNumber=1';
      const { authorization } = sign('PUT', rawPath, rawQuery, headers);
      let method = 'PUT';
      let path = rawPath;
      let query = rawQuery;
      const sent: Record<string, string> = { ...headers, authorization };
      if ('method' in t) method = t.method;
      if ('pathSuffix' in t) path = `${rawPath}${encodeURIComponent(t.pathSuffix)}`;
      if ('queryAdd' in t) query = `${rawQuery}&${t.queryAdd}`;
      if ('header' in t) {
        fc.pre(sent[t.header].trim() !== t.value.replace(/\s+/g, ' ').trim());
        sent[t.header] = t.value;
      }
      const code = remoteCode(() => verifyTosRequest({ method, decodedPath: decodePath(path), query: parseRawQuery(query), headers: sent }, { ...creds, now: NOW }));
      assert.ok(code === 'SignatureDoesNotMatch', `expected SignatureDoesNotMatch, got ${code}`);
    }),
    { numRuns: 300 },
  );
});

test('an unsigned x-tos header added after signing is rejected', () => {
  const { authorization } = sign('PUT', '/bkt/a', '');
  const headers = { ...baseHeaders, authorization, 'x-tos-acl': 'public-read' };
  assert.equal(remoteCode(() => verifyTosRequest({ method: 'PUT', decodedPath: '/bkt/a', query: [], headers }, { ...creds, now: NOW })), 'SignatureDoesNotMatch');
});

test('malformed percent-encoding in a path or query is a 400 InvalidArgument, not a crash', () => {
  assert.equal(remoteCode(() => decodePath('/bkt/%E4%B8')), 'InvalidArgument');
  assert.equal(remoteCode(() => parseRawQuery('a=%zz')), 'InvalidArgument');
});
