import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import OfficialSignerModule from '@volcengine/openapi/lib/base/sign.js';
import {
  canonicalQuery,
  canonicalRequest,
  computeSignature,
  credentialScope,
  sha256Hex,
  signingKey,
  signRequest,
  stringToSign,
  verifyRequest,
} from '../lib/ark/signer.ts';

// The package is CommonJS with `exports.default = Signer`, so the class sits one level down.
const OfficialSigner = OfficialSignerModule.default;

const AK = 'AKLTYWViMTVmZGYzM2E0NDI5Mzk2MDZjNjFmMjc2MjRjMzg';
const SK = 'WkRZeE1EQmxPVGhsWWpWak5HVmtNbUUxTXpZeU9UVXlOMlE1TmpZeVlqTQ==';
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function vectorSignature(o: { method: string; host: string; query: string; xDate: string; service: string; body: string }): {
  canonical: string;
  signature: string;
} {
  const canonical = canonicalRequest({
    method: o.method,
    path: '/',
    query: canonicalQuery(new URLSearchParams(o.query)),
    headers: { host: o.host, 'x-date': o.xDate },
    signedHeaders: ['host', 'x-date'],
    payloadHash: sha256Hex(o.body),
  });
  const key = signingKey(SK, o.xDate.slice(0, 8), 'cn-beijing', o.service);
  return { canonical, signature: computeSignature(key, stringToSign(o.xDate, credentialScope(o.xDate, 'cn-beijing', o.service), canonical)) };
}

test('the official ListUsers vector gives the documented canonical request, signing key and signature', () => {
  const { canonical, signature } = vectorSignature({
    method: 'GET',
    host: 'iam.volcengineapi.com',
    query: 'Action=ListUsers&Version=2018-01-01&Limit=10&Offset=0',
    xDate: '20240619T071306Z',
    service: 'iam',
    body: '',
  });
  assert.equal(
    canonical,
    `GET\n/\nAction=ListUsers&Limit=10&Offset=0&Version=2018-01-01\nhost:iam.volcengineapi.com\nx-date:20240619T071306Z\n\nhost;x-date\n${EMPTY}`,
  );
  assert.equal(sha256Hex(canonical), '5ed5bca3905e1fcbf789abb56a17c2d819674a3bcfa468ae476bd1ea80d135cb');
  assert.equal(signingKey(SK, '20240619', 'cn-beijing', 'iam').toString('hex'), 'abee62e533a58934c49954459a3c3237d2fccea517c9a7c8a2651d8ea7779826');
  assert.equal(signature, 'e31c4558bcfe08a286001f59cedbf0791ffd0b2362f10e55ee2627467bcdde93');
});

test('the QueryBalanceAcct GET vector signs to the known signature', () => {
  const { canonical, signature } = vectorSignature({
    method: 'GET',
    host: 'billing.volcengineapi.com',
    query: 'Action=QueryBalanceAcct&Version=2022-01-01',
    xDate: '20250329T180937Z',
    service: 'billing',
    body: '',
  });
  assert.match(sha256Hex(canonical), /^43171c16.*e6e2c1$/);
  assert.equal(signature, '1eda9e7e6b1728151a8e8791fdaf67cfbd28bd5c80d0fce2eb208746cf483105');
});

test('the ListBill POST vector hashes the body into the last canonical line', () => {
  const { signature } = vectorSignature({
    method: 'POST',
    host: 'billing.volcengineapi.com',
    query: 'Action=ListBill&Version=2022-01-01',
    xDate: '20250329T180937Z',
    service: 'billing',
    body: '{"Limit":10,"BillPeriod":"2023-08"}',
  });
  assert.equal(signature, '5e8480ceea12d0000a23c054151c50dd02c1a7dec835004057d19f13d53a7658');
});

test('signRequest reproduces the Ark GetBatchInferenceJob vector and verifyRequest accepts it', () => {
  const body = '{"Id":"bi-20240918194641-r2nwq"}';
  const url = 'https://ark.cn-beijing.volcengineapi.com/?Action=GetBatchInferenceJob&Version=2024-01-01';
  const date = new Date('2025-01-15T09:49:23Z');
  const headers = signRequest({ method: 'POST', url, body, credentials: { accessKeyId: AK, secretAccessKey: SK }, region: 'cn-beijing', service: 'ark', date });
  assert.equal(headers['X-Date'], '20250115T094923Z');
  assert.equal(headers['X-Content-Sha256'], '58082be17412e6897bcdf0f799478edeb75fe6c71363a349a07a149f2d8301ad');
  assert.equal(
    headers.Authorization,
    `HMAC-SHA256 Credential=${AK}/20250115/cn-beijing/ark/request, SignedHeaders=host;x-content-sha256;x-date, ` +
      'Signature=e872c2da0c30be40ed560f64cb3dc3c34bd96d68bf40066a6747527e1754e83b',
  );
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const result = verifyRequest({
    method: 'POST',
    url: '/?Action=GetBatchInferenceJob&Version=2024-01-01',
    headers: { ...lower, host: 'ark.cn-beijing.volcengineapi.com' },
    body: Buffer.from(body),
    secretFor: (ak) => (ak === AK ? SK : undefined),
    region: 'cn-beijing',
    service: 'ark',
    now: date,
  });
  assert.deepEqual(result, { ok: true, accessKeyId: AK });
});

test('an STS token is sent and signed as X-Security-Token', () => {
  const h = signRequest({
    method: 'POST',
    url: 'http://127.0.0.1:9000/?Action=ListBatchInferenceJobs&Version=2024-01-01',
    body: '{}',
    credentials: { accessKeyId: AK, secretAccessKey: SK, sessionToken: 'tok en' },
    region: 'cn-beijing',
    service: 'ark',
  });
  assert.equal(h['X-Security-Token'], 'tok en');
  assert.match(h.Authorization, /SignedHeaders=host;x-content-sha256;x-date;x-security-token,/);
});

test('a Host header given to signRequest is what gets signed', () => {
  const base = { method: 'POST', url: 'http://127.0.0.1:9000/?Action=A&Version=2024-01-01', body: '{}', credentials: { accessKeyId: AK, secretAccessKey: SK }, region: 'cn-beijing', service: 'ark', date: new Date('2025-01-15T09:49:23Z') };
  const viaProxy = signRequest({ ...base, headers: { Host: 'ark.cn-beijing.volcengineapi.com' } });
  const direct = signRequest({ ...base, url: 'https://ark.cn-beijing.volcengineapi.com/?Action=A&Version=2024-01-01' });
  assert.equal(viaProxy.Authorization, direct.Authorization);
  assert.notEqual(signRequest(base).Authorization, direct.Authorization);
});

test('verifyRequest rejects a stale X-Date, an unknown key, a foreign scope and a missing header', () => {
  const date = new Date('2025-01-15T09:49:23Z');
  const signed = signRequest({
    method: 'POST',
    url: 'http://127.0.0.1:1/?Action=X&Version=2024-01-01',
    body: '{}',
    credentials: { accessKeyId: AK, secretAccessKey: SK },
    region: 'cn-beijing',
    service: 'ark',
    date,
  });
  const headers = { host: '127.0.0.1:1', 'x-date': signed['X-Date'], 'x-content-sha256': signed['X-Content-Sha256'], authorization: signed.Authorization };
  const base = { method: 'POST', url: '/?Action=X&Version=2024-01-01', headers, body: Buffer.from('{}'), secretFor: (ak: string) => (ak === AK ? SK : undefined), region: 'cn-beijing', service: 'ark' };
  assert.equal(verifyRequest({ ...base, now: date }).ok, true);
  assert.equal(verifyRequest({ ...base, now: new Date(date.getTime() + 14 * 60_000) }).ok, true);
  assert.deepEqual(pick(verifyRequest({ ...base, now: new Date(date.getTime() + 16 * 60_000) })), 'InvalidTimestamp');
  assert.deepEqual(pick(verifyRequest({ ...base, now: date, secretFor: () => undefined })), 'InvalidAccessKey');
  assert.deepEqual(pick(verifyRequest({ ...base, now: date, region: 'cn-shanghai' })), 'SignatureDoesNotMatch');
  assert.deepEqual(pick(verifyRequest({ ...base, now: date, service: 'iam' })), 'SignatureDoesNotMatch');
  assert.deepEqual(pick(verifyRequest({ ...base, now: date, headers: { ...headers, authorization: undefined } })), 'MissingAuthenticationToken');
  assert.deepEqual(pick(verifyRequest({ ...base, now: date, headers: { ...headers, host: undefined } })), 'SignatureDoesNotMatch');
  assert.deepEqual(pick(verifyRequest({ ...base, now: date, body: Buffer.from('{ }') })), 'SignatureDoesNotMatch');
});

function pick(r: ReturnType<typeof verifyRequest>): string {
  return r.ok ? 'ok' : r.code;
}

test('canonicalQuery percent-encodes per RFC 3986 and sorts repeated keys by value', () => {
  assert.equal(canonicalQuery({ b: "it's (x)*!", a: ['z', 'y'], c: null, 'k y': '' }), "a=y&a=z&b=it%27s%20%28x%29%2A%21&k%20y=");
  assert.equal(canonicalQuery(new URLSearchParams('x=%E4%B8%AD+1&w=~-_.')), 'w=~-_.&x=%E4%B8%AD%201');
});

// Keys without astral characters: JS sorts strings by UTF-16 units, we (like Go) by UTF-8 bytes;
// the two orders only differ between surrogates and U+E000..U+FFFF. Integer-like keys are left
// out because the official Signer re-sorts params through a plain object, which puts them first.
const keyArb = fc
  .string({ unit: fc.constantFrom(...'abcXYZ019-_.~ !*()\'&=+%/中文é'.split('')), minLength: 1, maxLength: 8 })
  .filter((k) => !/^(0|[1-9]\d*)$/.test(k));
const valueArb = fc.string({ unit: 'binary', maxLength: 12 });

test('our Authorization equals the official @volcengine/openapi Signer over random queries, bodies, dates and keys', () => {
  fc.assert(
    fc.property(
      fc.dictionary(keyArb, fc.oneof(valueArb, fc.array(valueArb, { minLength: 1, maxLength: 3 })), { maxKeys: 5 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }),
      fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split('')), minLength: 1, maxLength: 40 }),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }),
      fc.option(fc.string({ unit: fc.constantFrom(...'abcdefXYZ0123456789+/='.split('')), minLength: 1, maxLength: 30 }), { nil: undefined }),
      fc.constantFrom('cn-beijing', 'cn-shanghai', 'ap-southeast-1'),
      fc.constantFrom('ark', 'iam', 'billing'),
      (params, body, date, ak, sk, token, region, service) => {
        const search = new URLSearchParams();
        for (const [k, v] of Object.entries(params)) for (const item of Array.isArray(v) ? v : [v]) search.append(k, item);
        const url = new URL(`http://127.0.0.1:8080/`);
        url.search = search.toString();
        const ours = signRequest({ method: 'POST', url, body, credentials: { accessKeyId: ak, secretAccessKey: sk, sessionToken: token }, region, service, date });
        const official = new OfficialSigner(
          {
            region,
            method: 'POST',
            pathname: '/',
            params,
            headers: { Host: '127.0.0.1:8080', 'X-Content-Sha256': sha256Hex(body), 'Content-Type': 'application/json' },
            body,
          },
          service,
        );
        official.addAuthorization({ accessKeyId: ak, secretKey: sk, sessionToken: token }, date);
        assert.equal(ours.Authorization, official.request.headers.Authorization);
        assert.equal(ours['X-Date'], official.request.headers['X-Date']);
      },
    ),
    { numRuns: 300 },
  );
});

test('verifyRequest accepts requests signed by the official Signer', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.dictionary(keyArb, valueArb, { maxKeys: 4 }), (body, params) => {
      const date = new Date();
      const official = new OfficialSigner({ region: 'cn-beijing', method: 'POST', pathname: '/', params: { Action: 'GetBatchInferenceJob', Version: '2024-01-01', ...params }, headers: { Host: 'localhost:1234' }, body }, 'ark');
      official.addAuthorization({ accessKeyId: AK, secretKey: SK }, date);
      const headers = Object.fromEntries(Object.entries(official.request.headers as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]));
      const query = new URLSearchParams();
      for (const [k, v] of Object.entries(official.request.params as Record<string, string>)) query.append(k, v);
      const result = verifyRequest({ method: 'POST', url: `/?${query}`, headers, body: Buffer.from(body), secretFor: (ak) => (ak === AK ? SK : undefined), region: 'cn-beijing', service: 'ark', now: date });
      assert.deepEqual(result, { ok: true, accessKeyId: AK });
    }),
    { numRuns: 200 },
  );
});
