import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { request } from 'undici';
import OfficialSignerModule from '@volcengine/openapi/lib/base/sign.js';
import { signRequest } from '../lib/ark/signer.ts';
import type { SigningCredentials } from '../lib/ark/signer.ts';
import { createJobEngine } from '../lib/local/jobs.ts';
import type { JobEngine, JobEngineOptions } from '../lib/local/jobs.ts';
import { createOpenApiHandler, LOCAL_CREDENTIALS } from '../lib/local/openapi-handler.ts';
import type { FaultDecider, OpenApiHandlerOptions } from '../lib/local/openapi-handler.ts';
import { memoryStore } from './helpers/memory-store.ts';
import type { MemoryStore } from './helpers/memory-store.ts';
import { inputLine, testResponder } from './helpers/test-responder.ts';

const OfficialSigner = OfficialSignerModule.default;

interface Service {
  base: string;
  host: string;
  store: MemoryStore;
  jobs: JobEngine;
  call: (action: string, body?: unknown, opts?: { query?: Record<string, string>; credentials?: SigningCredentials; date?: Date }) => Promise<{ status: number; json: any }>;
}

async function startService(
  t: { after: (fn: () => Promise<void>) => void },
  engineOpts: Partial<JobEngineOptions> = {},
  handlerOpts: Partial<OpenApiHandlerOptions> = {},
): Promise<Service> {
  const dir = await mkdtemp(join(tmpdir(), 'ark-openapi-'));
  const store = memoryStore();
  await store.createBucket('in');
  await store.createBucket('out');
  const jobs = await createJobEngine({ dataDir: dir, store, responder: testResponder(), expiryCheckMs: 0, ...engineOpts });
  const handler = createOpenApiHandler({ jobs, store, ...handlerOpts });
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await jobs.close();
    await rm(dir, { recursive: true, force: true });
  });
  const base = `http://${host}`;
  return {
    base,
    host,
    store,
    jobs,
    async call(action, body = {}, opts = {}) {
      const url = new URL(base);
      url.search = new URLSearchParams({ Action: action, Version: '2024-01-01', ...(opts.query ?? {}) }).toString();
      const text = JSON.stringify(body);
      const headers = signRequest({
        method: 'POST',
        url,
        body: text,
        credentials: opts.credentials ?? LOCAL_CREDENTIALS,
        region: 'cn-beijing',
        service: 'ark',
        date: opts.date,
      });
      const res = await request(url, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json; charset=UTF-8' }, body: text });
      return { status: res.statusCode, json: await res.body.json() };
    },
  };
}

function createBody(key = 'batch.jsonl', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Name: 'job-测试_1',
    ModelReference: { FoundationModel: { Name: 'doubao-pro-32k', ModelVersion: '240615' } },
    InputFileTosLocation: { BucketName: 'in', ObjectKey: key },
    OutputDirTosLocation: { BucketName: 'out', ObjectKey: 'output/' },
    CompletionWindow: '3d',
    ...extra,
  };
}

async function putInput(store: MemoryStore, key: string, n = 3): Promise<void> {
  const lines = Array.from({ length: n }, (_, i) => inputLine(`request-${i + 1}`, `hello ${i + 1}`));
  await store.putObject('in', key, Buffer.from(lines.join('\n') + '\n'));
}

function gate(): { wait: () => Promise<void>; open: () => void } {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { wait: () => p, open: () => open() };
}

test('a job created over the API runs to Completed and Get returns the documented fields', async (t) => {
  const svc = await startService(t);
  await putInput(svc.store, 'batch.jsonl');
  const created = await svc.call('CreateBatchInferenceJob', createBody('batch.jsonl', { Tags: [{ Key: 'team', Value: 'nlp' }] }));
  assert.equal(created.status, 200);
  assert.deepEqual(Object.keys(created.json.ResponseMetadata), ['RequestId', 'Action', 'Version', 'Service', 'Region']);
  assert.match(created.json.ResponseMetadata.RequestId, /^\d{14}[0-9A-F]{20}$/);
  assert.equal(created.json.ResponseMetadata.Action, 'CreateBatchInferenceJob');
  assert.equal(created.json.ResponseMetadata.Service, 'ark');
  assert.equal(created.json.ResponseMetadata.Region, 'cn-beijing');
  const id = created.json.Result.Id as string;
  assert.match(id, /^bi-\d{14}-[a-z0-9]{5}$/);
  await svc.jobs.waitFor(id);
  const got = await svc.call('GetBatchInferenceJob', { Id: id });
  assert.equal(got.status, 200);
  const job = got.json.Result;
  assert.equal(job.Status.Phase, 'Completed');
  assert.deepEqual(job.RequestCounts, { Total: 3, Completed: 3, Failed: 0 });
  assert.equal(job.ProjectName, 'default');
  assert.equal(job.CompletionWindow, '3d');
  assert.deepEqual(job.Tags, [{ Key: 'sys:ark:createdBy', Value: 'IAMUser/local/ark-batch' }, { Key: 'team', Value: 'nlp' }]);
  assert.equal(Date.parse(job.ExpireTime) - Date.parse(job.CreateTime), 3 * 86_400_000);
  for (const k of ['CreateTime', 'UpdateTime', 'ExpireTime']) assert.match(job[k], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(typeof job.TokenUsage.TotalTokens, 'number');
  const results = svc.store.text('out', `output/${id}/output/results.jsonl`)!.trim().split('\n');
  assert.equal(results.length, 3);
});

test('the official @volcengine/openapi Signer is accepted as a client', async (t) => {
  const svc = await startService(t);
  await putInput(svc.store, 'batch.jsonl');
  const body = JSON.stringify(createBody());
  const signer = new OfficialSigner(
    { region: 'cn-beijing', method: 'POST', pathname: '/', params: { Action: 'CreateBatchInferenceJob', Version: '2024-01-01' }, headers: { Host: svc.host }, body },
    'ark',
  );
  signer.addAuthorization({ accessKeyId: LOCAL_CREDENTIALS.accessKeyId, secretKey: LOCAL_CREDENTIALS.secretAccessKey });
  const res = await request(`${svc.base}/?Action=CreateBatchInferenceJob&Version=2024-01-01`, {
    method: 'POST',
    headers: { ...(signer.request.headers as Record<string, string>), 'Content-Type': 'application/json' },
    body,
  });
  const json = (await res.body.json()) as any;
  assert.equal(res.statusCode, 200, JSON.stringify(json));
  assert.match(json.Result.Id, /^bi-/);
});

test('signature problems get the real error envelope with Code, CodeN and HTTP status', async (t) => {
  const svc = await startService(t);
  const wrongSecret = await svc.call('ListBatchInferenceJobs', {}, { credentials: { ...LOCAL_CREDENTIALS, secretAccessKey: 'nope' } });
  assert.equal(wrongSecret.status, 401);
  assert.equal(wrongSecret.json.Result, undefined);
  assert.equal(wrongSecret.json.ResponseMetadata.Error.Code, 'SignatureDoesNotMatch');
  assert.equal(wrongSecret.json.ResponseMetadata.Error.CodeN, 100010);
  const unknownKey = await svc.call('ListBatchInferenceJobs', {}, { credentials: { accessKeyId: 'AKUNKNOWN', secretAccessKey: 'x' } });
  assert.deepEqual([unknownKey.status, unknownKey.json.ResponseMetadata.Error.Code, unknownKey.json.ResponseMetadata.Error.CodeN], [401, 'InvalidAccessKey', 100009]);
  assert.ok(!JSON.stringify(unknownKey.json).includes(LOCAL_CREDENTIALS.secretAccessKey));
  const stale = await svc.call('ListBatchInferenceJobs', {}, { date: new Date(Date.now() - 16 * 60_000) });
  assert.deepEqual([stale.status, stale.json.ResponseMetadata.Error.Code], [400, 'InvalidTimestamp']);
  const unsigned = await request(`${svc.base}/?Action=ListBatchInferenceJobs&Version=2024-01-01`, { method: 'POST', body: '{}' });
  const unsignedJson = (await unsigned.body.json()) as any;
  assert.deepEqual([unsigned.statusCode, unsignedJson.ResponseMetadata.Error.Code, unsignedJson.ResponseMetadata.Error.CodeN], [401, 'MissingAuthenticationToken', 100003]);
  const noAction = await request(`${svc.base}/?Version=2024-01-01&Action=`, { method: 'POST', body: '{}' });
  const noActionJson = (await noAction.body.json()) as any;
  assert.deepEqual([noAction.statusCode, noActionJson.ResponseMetadata.Error.Code, noActionJson.ResponseMetadata.Error.CodeN], [400, 'MissingParameter', 100002]);
  const unknown = await svc.call('LaunchRocket', {});
  assert.deepEqual([unknown.status, unknown.json.ResponseMetadata.Error.Code, unknown.json.ResponseMetadata.Error.CodeN], [404, 'InvalidActionOrVersion', 100008]);
});

test('CreateBatchInferenceJob validates its parameters and DryRun creates nothing', async (t) => {
  const svc = await startService(t);
  await putInput(svc.store, 'batch.jsonl');
  const cases: Array<[Record<string, unknown>, number, string]> = [
    [createBody('batch.jsonl', { Name: undefined }), 400, 'MissingParameter'],
    [createBody('batch.jsonl', { Name: 'has space' }), 400, 'InvalidParameter'],
    [createBody('batch.jsonl', { Name: 'x'.repeat(201) }), 400, 'InvalidParameter'],
    [createBody('batch.jsonl', { ModelReference: { FoundationModel: { Name: 'm' }, CustomModelId: 'c' } }), 400, 'InvalidParameter'],
    [createBody('batch.jsonl', { ModelReference: {} }), 400, 'InvalidParameter'],
    [createBody('batch.jsonl', { InputFileTosLocation: undefined }), 400, 'MissingParameter'],
    [createBody('batch.jsonl', { OutputDirTosLocation: { ObjectKey: 'o/' } }), 400, 'MissingParameter'],
    [createBody('batch.jsonl', { CompletionWindow: '29d' }), 400, 'InvalidParameter'],
    [createBody('batch.jsonl', { CompletionWindow: '0d' }), 400, 'InvalidParameter'],
    [createBody('batch.jsonl', { CompletionWindow: '24h' }), 400, 'InvalidParameter'],
    [createBody('batch.jsonl', { Tags: [{ Key: 'sys:x', Value: 'y' }] }), 400, 'InvalidParameter'],
    [createBody('batch.jsonl', { DryRun: true }), 400, 'DryRunOperation'],
    [createBody('missing.jsonl', { DryRun: true }), 400, 'InvalidParameter'],
  ];
  for (const [body, status, code] of cases) {
    const res = await svc.call('CreateBatchInferenceJob', body);
    assert.deepEqual([res.status, res.json.ResponseMetadata.Error?.Code], [status, code], JSON.stringify(body));
  }
  assert.equal(svc.jobs.list().length, 0);
  const custom = await svc.call('CreateBatchInferenceJob', createBody('batch.jsonl', { ModelReference: { CustomModelId: 'cm-1' }, CompletionWindow: undefined }));
  assert.equal(custom.status, 200);
  assert.equal(svc.jobs.get(custom.json.Result.Id)!.CompletionWindow, '28d');
});

test('a duplicate submission while the first job is active is a 409 ConflictOperation naming that job', async (t) => {
  const g = gate();
  const svc = await startService(t, { responder: testResponder(() => g.wait()) });
  await putInput(svc.store, 'batch.jsonl');
  const first = await svc.call('CreateBatchInferenceJob', createBody());
  const dup = await svc.call('CreateBatchInferenceJob', createBody('batch.jsonl', { Name: 'other' }));
  assert.equal(dup.status, 409);
  assert.equal(dup.json.ResponseMetadata.Error.Code, 'ConflictOperation');
  assert.ok(dup.json.ResponseMetadata.Error.Message.includes(first.json.Result.Id));
  const dryDup = await svc.call('CreateBatchInferenceJob', createBody('batch.jsonl', { DryRun: true }));
  assert.equal(dryDup.json.ResponseMetadata.Error.Code, 'ConflictOperation');
  g.open();
});

test('ListBatchInferenceJobs filters by id, name, phase and project, pages and sorts', async (t) => {
  let nowMs = Date.parse('2025-01-01T00:00:00Z');
  const g = gate();
  const svc = await startService(
    t,
    { clock: () => nowMs, maxRunning: 1, responder: testResponder(() => g.wait()) },
    { clock: () => Date.now() },
  );
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    await putInput(svc.store, `f${i}.jsonl`, 1);
    const res = await svc.call('CreateBatchInferenceJob', createBody(`f${i}.jsonl`, { Name: i % 2 ? `odd-${i}` : `even-${i}`, ProjectName: i === 4 ? 'p2' : undefined }));
    ids.push(res.json.Result.Id);
    nowMs += 60_000;
  }
  const list = async (body: Record<string, unknown>) => {
    const res = await svc.call('ListBatchInferenceJobs', body);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    return res.json.Result;
  };
  const all = await list({});
  assert.equal(all.TotalCount, 5);
  assert.deepEqual(all.Items.map((j: any) => j.Id), [...ids].reverse());
  assert.equal(all.Items[0].TokenUsage, undefined);
  const asc = await list({ SortBy: 'CreateTime', SortOrder: 'Asc', PageSize: 2, PageNumber: 2 });
  assert.deepEqual([asc.TotalCount, asc.PageNumber, asc.PageSize], [5, 2, 2]);
  assert.deepEqual(asc.Items.map((j: any) => j.Id), ids.slice(2, 4));
  assert.deepEqual((await list({ PageSize: 2, PageNumber: 9 })).Items, []);
  assert.deepEqual((await list({ Filter: { Ids: [ids[1], ids[3], 'bi-nope'] } })).Items.map((j: any) => j.Id).sort(), [ids[1], ids[3]].sort());
  assert.deepEqual((await list({ Filter: { Name: 'odd' }, SortOrder: 'Asc' })).Items.map((j: any) => j.Name), ['odd-1', 'odd-3']);
  assert.deepEqual((await list({ ProjectName: 'p2' })).Items.map((j: any) => j.Id), [ids[4]]);
  const running = await list({ Filter: { Phases: ['Running'] } });
  assert.deepEqual(running.Items.map((j: any) => j.Id).sort(), [ids[0], ids[4]].sort());
  assert.equal((await list({ Filter: { Phases: ['Queued'] } })).TotalCount, 3);
  // UpdateTime moves with Update, so sorting by it differs from CreateTime.
  nowMs += 60_000;
  assert.equal((await svc.call('UpdateBatchInferenceJob', { Id: ids[0], Description: 'touched' })).status, 200);
  assert.equal((await list({ SortBy: 'UpdateTime', SortOrder: 'Desc', PageSize: 1 })).Items[0].Id, ids[0]);
  for (const bad of [{ PageSize: 0 }, { PageSize: 101 }, { PageNumber: 0 }, { SortBy: 'Name' }, { SortOrder: 'Up' }, { Filter: { Phases: ['Paused'] } }]) {
    const res = await svc.call('ListBatchInferenceJobs', bad);
    assert.deepEqual([res.status, res.json.ResponseMetadata.Error.Code], [400, 'InvalidParameter'], JSON.stringify(bad));
  }
  g.open();
});

test('Stop, Resume (Id in the query), Update and Delete drive the life cycle; unknown ids are 404', async (t) => {
  let block = true;
  const reached = gate();
  const svc = await startService(t, {
    concurrencyPerJob: 1,
    responder: testResponder(async (text) => {
      if (block && text === 'hello 2') {
        reached.open();
        await new Promise(() => {});
      }
    }),
  });
  await putInput(svc.store, 'batch.jsonl', 4);
  const id = (await svc.call('CreateBatchInferenceJob', createBody())).json.Result.Id as string;
  await reached.wait();
  const stop = await svc.call('StopBatchInferenceJob', { Id: id });
  assert.deepEqual([stop.status, stop.json.Result], [200, {}]);
  await svc.jobs.waitFor(id);
  const stopped = (await svc.call('GetBatchInferenceJob', { Id: id })).json.Result;
  assert.equal(stopped.Status.Phase, 'Terminated');
  assert.deepEqual(stopped.RequestCounts, { Total: 4, Completed: 1, Failed: 0 });
  assert.equal(svc.store.text('out', `output/${id}/output/results.jsonl`)!.trim().split('\n').length, 1);
  const again = await svc.call('StopBatchInferenceJob', { Id: id });
  assert.deepEqual([again.status, again.json.ResponseMetadata.Error.Code], [400, 'OperationDenied.InvalidState']);

  block = false;
  const resume = await svc.call('ResumeBatchInferenceJob', {}, { query: { Id: id } });
  assert.deepEqual([resume.status, resume.json.Result], [200, { Id: id }]);
  await svc.jobs.waitFor(id, ['Completed']);
  assert.deepEqual((await svc.call('GetBatchInferenceJob', { Id: id })).json.Result.RequestCounts, { Total: 4, Completed: 4, Failed: 0 });

  const upd = await svc.call('UpdateBatchInferenceJob', { Id: id, Name: 'renamed', Description: '说明' });
  assert.deepEqual([upd.status, upd.json.Result], [200, {}]);
  const after = (await svc.call('GetBatchInferenceJob', { Id: id })).json.Result;
  assert.deepEqual([after.Name, after.Description], ['renamed', '说明']);
  assert.equal((await svc.call('UpdateBatchInferenceJob', { Id: id, Name: 'bad name!' })).status, 400);

  const del = await svc.call('DeleteBatchInferenceJob', { Id: id });
  assert.deepEqual([del.status, del.json.Result], [200, {}]);
  for (const action of ['GetBatchInferenceJob', 'StopBatchInferenceJob', 'ResumeBatchInferenceJob', 'DeleteBatchInferenceJob']) {
    const res = await svc.call(action, { Id: id });
    assert.deepEqual([res.status, res.json.ResponseMetadata.Error.Code], [404, 'NotFound.BatchInferenceJob'], action);
  }
  const noId = await svc.call('GetBatchInferenceJob', {});
  assert.deepEqual([noId.status, noId.json.ResponseMetadata.Error.Code], [400, 'MissingParameter']);
});

test('injected faults answer with a throttling error, stall or reset the connection, by action or for all', async (t) => {
  const plan: Array<{ op: string; fault: ReturnType<FaultDecider['decide']> }> = [];
  const asked: string[] = [];
  const faults: FaultDecider = {
    decide: (op) => {
      asked.push(op);
      const i = plan.findIndex((p) => p.op === op);
      return i === -1 ? null : plan.splice(i, 1)[0].fault;
    },
  };
  const svc = await startService(t, {}, { faults });
  plan.push({ op: 'openapi', fault: { kind: 'status', status: 429 } });
  const throttled = await svc.call('ListBatchInferenceJobs', {});
  assert.deepEqual([throttled.status, throttled.json.ResponseMetadata.Error.Code], [429, 'AccountFlowLimitExceeded']);
  assert.deepEqual(asked, ['ListBatchInferenceJobs', 'openapi']);
  plan.push({ op: 'GetBatchInferenceJob', fault: { kind: 'status', status: 503 } });
  assert.equal((await svc.call('ListBatchInferenceJobs', {})).status, 200);
  const unavailable = await svc.call('GetBatchInferenceJob', { Id: 'bi-x' });
  assert.deepEqual([unavailable.status, unavailable.json.ResponseMetadata.Error.Code], [503, 'InternalError']);
  plan.push({ op: 'openapi', fault: { kind: 'stall', ms: 20 } });
  assert.equal((await svc.call('ListBatchInferenceJobs', {})).status, 200);
  plan.push({ op: 'openapi', fault: { kind: 'reset' } });
  await assert.rejects(svc.call('ListBatchInferenceJobs', {}));
  assert.equal((await svc.call('ListBatchInferenceJobs', {})).status, 200);
});

/** Sends raw bytes so a tampered request reaches the server exactly as built. */
function rawSend(host: string, r: { method: string; path: string; headers: Record<string, string>; body: string }): Promise<{ status: number; json: any }> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port: Number(port), method: r.method, path: r.path, headers: r.headers, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

test('the service never accepts a request whose signature is wrong', async (t) => {
  const svc = await startService(t);
  await putInput(svc.store, 'batch.jsonl');
  const tamper = fc.oneof(
    fc.constant('method'),
    fc.constant('path'),
    fc.constant('query-value'),
    fc.constant('query-add'),
    fc.constant('query-drop'),
    fc.constant('action'),
    fc.constant('host'),
    fc.constant('x-date'),
    fc.constant('x-content-sha256'),
    fc.constant('body'),
    fc.constant('signature'),
  );
  await fc.assert(
    fc.asyncProperty(
      tamper,
      fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
      fc.string({ unit: fc.constantFrom('a', 'Z', '9', '-', '~', ' ', '中', '😀', '&', '='), minLength: 1, maxLength: 6 }),
      async (kind, text, extra) => {
        const body = JSON.stringify({ ...createBody('batch.jsonl', { Description: text, Name: `n${svc.jobs.list().length}` }) });
        const query = new URLSearchParams({ Action: 'CreateBatchInferenceJob', Version: '2024-01-01', Extra: extra });
        const url = new URL(`${svc.base}/?${query}`);
        const signed = signRequest({ method: 'POST', url, body, credentials: LOCAL_CREDENTIALS, region: 'cn-beijing', service: 'ark' });
        const headers: Record<string, string> = { host: svc.host, 'content-type': 'application/json', ...signed };
        let method = 'POST';
        let path = `/?${query}`;
        let sendBody = body;
        const q2 = new URLSearchParams(query);
        switch (kind) {
          case 'method': method = 'PUT'; break;
          case 'path': path = `/x?${query}`; break;
          case 'query-value': q2.set('Extra', `${extra}!`); path = `/?${q2}`; break;
          case 'query-add': q2.append('Injected', '1'); path = `/?${q2}`; break;
          case 'query-drop': q2.delete('Extra'); path = `/?${q2}`; break;
          case 'action': q2.set('Action', 'ListBatchInferenceJobs'); path = `/?${q2}`; break;
          case 'host': headers.host = `localhost:${svc.host.split(':')[1]}`; break;
          case 'x-date': headers['X-Date'] = signed['X-Date'].replace(/(\d)Z$/, (_, d: string) => `${(Number(d) + 1) % 10}Z`); break;
          case 'x-content-sha256': headers['X-Content-Sha256'] = signed['X-Content-Sha256'].replace(/^./, (c) => (c === '0' ? '1' : '0')); break;
          case 'body': sendBody = body.replace(/}$/, ',"Injected":1}'); break;
          case 'signature': headers.Authorization = signed.Authorization.replace(/.$/, (c) => (c === '0' ? '1' : '0')); break;
        }
        headers['content-length'] = String(Buffer.byteLength(sendBody));
        const before = svc.jobs.list().length;
        const res = await rawSend(svc.host, { method, path, headers, body: sendBody });
        assert.ok(res.status === 401 || res.status === 400, `${kind}: HTTP ${res.status}`);
        assert.equal(res.json.Result, undefined);
        assert.ok(['SignatureDoesNotMatch', 'InvalidTimestamp'].includes(res.json.ResponseMetadata.Error.Code), res.json.ResponseMetadata.Error.Code);
        assert.equal(svc.jobs.list().length, before);
      },
    ),
    { numRuns: 120 },
  );
  // The untampered request goes through, so the property is not vacuous.
  const ok = await svc.call('CreateBatchInferenceJob', createBody());
  assert.equal(ok.status, 200);
});

test('an unexpected failure is answered with 500 InternalError and handed to the caller', async () => {
  const broken = { list: () => { throw new Error('disk on fire'); } } as unknown as JobEngine;
  const handler = createOpenApiHandler({ jobs: broken, store: memoryStore() });
  let caught: unknown;
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err: unknown) => (caught = err));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/?Action=ListBatchInferenceJobs&Version=2024-01-01`);
    const headers = signRequest({ method: 'POST', url, body: '{}', credentials: LOCAL_CREDENTIALS, region: 'cn-beijing', service: 'ark' });
    const res = await request(url, { method: 'POST', headers, body: '{}' });
    const json = (await res.body.json()) as any;
    assert.deepEqual([res.statusCode, json.ResponseMetadata.Error.Code], [500, 'InternalError']);
    assert.ok(!JSON.stringify(json).includes('disk on fire'));
    assert.equal((caught as Error).message, 'disk on fire');
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
