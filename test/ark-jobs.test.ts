import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ArkOpenApiClient } from '../lib/ark/openapi-client.ts';
import { ArkApiError } from '../lib/ark/openapi-client.ts';
import {
  createJob,
  createJobBody,
  deleteJob,
  getJob,
  JobEndedError,
  listJobs,
  normalizeCompletionWindow,
  resumeJob,
  stopJob,
  updateJob,
  waitForJob,
  type ArkJob,
  type CreateJobRequest,
} from '../lib/ark/jobs.ts';
import { downloadJobResults } from '../lib/ark/results.ts';
import { ArkBatchError } from '../lib/errors.ts';
import { createEchoResponder } from '../lib/local/echo-model.ts';
import { abortable } from './helpers/test-responder.ts';
import { heldResponder, inputLines, startArkService, type ArkService } from './helpers/ark-service.ts';

const fast = { intervalMs: 5, maxIntervalMs: 20 };

function request(key: string, extra: Partial<CreateJobRequest> = {}): CreateJobRequest {
  return { name: 'test-job', model: { name: 'doubao-seed-1-6', version: '250615' }, input: { bucket: 'in-bkt', key }, outputDir: { bucket: 'out-bkt', key: 'results/' }, ...extra };
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ark-jobs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await check()) return;
    await sleep(5);
  }
  assert.fail(`timed out waiting for ${what}`);
}

function customIds(text: string): string[] {
  return text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).custom_id as string);
}

async function submit(svc: ArkService, key: string, text: string, extra: Partial<CreateJobRequest> = {}): Promise<string> {
  await svc.put('in-bkt', key, text);
  await svc.put('out-bkt', '.keep', '');
  const res = await createJob(svc.client, request(key, extra));
  assert.equal(res.existing, false);
  return res.id!;
}

test('a job runs Queued → Running → Completed and its results and errors download, every line once', async (t) => {
  const svc = await startArkService(t);
  const dir = await tempDir(t);
  const id = await submit(svc, 'batch.jsonl', inputLines(40, (i) => (i % 10 === 3 ? 'InvalidParameter' : undefined)), { tags: { team: 'nlp' }, completionWindow: '2 days' });
  assert.match(id, /^bi-\d{14}-[a-z0-9]{5}$/);
  const seen: string[] = [];
  const job = await waitForJob(svc.client, id, { ...fast, onProgress: (j) => seen.push(j.Status.Phase) });
  assert.equal(seen.at(-1), 'Completed');
  assert.deepEqual(job.RequestCounts, { Total: 40, Completed: 36, Failed: 4 });
  assert.equal(job.CompletionWindow, '2d');
  assert.ok(job.Tags?.some((tag) => tag.Key === 'team' && tag.Value === 'nlp'));
  const files = await downloadJobResults({ tos: svc.tos, job, dir });
  assert.deepEqual(files.map((f) => [f.kind, f.localName, f.lines]), [['results', 'results.jsonl', 36], ['errors', 'errors.jsonl', 4]]);
  const results = await readFile(join(dir, 'results.jsonl'), 'utf8');
  const errors = await readFile(join(dir, 'errors.jsonl'), 'utf8');
  const ids = [...customIds(results), ...customIds(errors)].sort();
  assert.deepEqual(ids, Array.from({ length: 40 }, (_, i) => `row-${i + 1}`).sort());
  assert.deepEqual(customIds(errors).sort(), ['row-13', 'row-23', 'row-3', 'row-33']);
  assert.match(results, /😀/);
  assert.deepEqual((await readdir(dir)).sort(), ['errors.jsonl', 'results.jsonl'], 'no temp files are left');
});

test('jobs beyond max-running wait Queued and start as others finish', async (t) => {
  const held = heldResponder();
  const svc = await startArkService(t, { responder: held.responder, maxRunning: 1 });
  const a = await submit(svc, 'a.jsonl', inputLines(2));
  const b = await submit(svc, 'b.jsonl', inputLines(2));
  await until('a runs', async () => (await getJob(svc.client, a)).Status.Phase === 'Running');
  assert.equal((await getJob(svc.client, b)).Status.Phase, 'Queued');
  assert.deepEqual((await listJobs(svc.client, { phases: ['Queued'] })).map((j) => j.Id), [b]);
  held.release();
  await waitForJob(svc.client, a, fast);
  const done = await waitForJob(svc.client, b, fast);
  assert.deepEqual(done.RequestCounts, { Total: 2, Completed: 2, Failed: 0 });
});

test('stopping a running job ends it Terminated, and its finished lines download as partial results', async (t) => {
  let calls = 0;
  const echo = createEchoResponder({ seed: 3 });
  const svc = await startArkService(t, {
    concurrencyPerJob: 1,
    responder: async (body, signal) => {
      if (++calls > 3) await abortable(new Promise<void>(() => {}), signal);
      return echo(body, signal);
    },
  });
  const dir = await tempDir(t);
  const id = await submit(svc, 'stop.jsonl', inputLines(10));
  await until('the 4th line is in flight', () => calls >= 4);
  await stopJob(svc.client, id);
  const err = (await waitForJob(svc.client, id, fast).catch((e: unknown) => e)) as JobEndedError;
  assert.ok(err instanceof JobEndedError);
  assert.equal(err.code, 'E_JOB_FAILED');
  assert.match(err.message, /ended Terminated/);
  assert.deepEqual(err.job.RequestCounts, { Total: 10, Completed: 3, Failed: 0 });
  const files = await downloadJobResults({ tos: svc.tos, job: err.job, dir });
  assert.deepEqual(files.map((f) => [f.localName, f.lines]), [['results.jsonl', 3]]);
});

test('a job past its completion window is stopped as expired and keeps what finished', async (t) => {
  let now = Date.now();
  let calls = 0;
  const echo = createEchoResponder({ seed: 4 });
  const svc = await startArkService(t, {
    clock: () => now,
    concurrencyPerJob: 1,
    responder: async (body, signal) => {
      if (++calls > 2) await abortable(new Promise<void>(() => {}), signal);
      return echo(body, signal);
    },
  });
  const id = await submit(svc, 'expire.jsonl', inputLines(5), { completionWindow: '1d' });
  await until('the 3rd line is in flight', () => calls >= 3);
  now += 25 * 3_600_000;
  const err = (await waitForJob(svc.client, id, fast).catch((e: unknown) => e)) as JobEndedError;
  assert.ok(err instanceof JobEndedError, String(err));
  assert.equal(err.job.Status.Phase, 'Terminated');
  assert.match(err.message, /completion window 1d elapsed/);
  assert.deepEqual(err.job.RequestCounts, { Total: 5, Completed: 2, Failed: 0 });
});

test('an input with a line that is not JSON fails the job, and waiting rejects naming the phase and the line', async (t) => {
  const svc = await startArkService(t);
  const id = await submit(svc, 'bad.jsonl', inputLines(1) + '{not json\n' + inputLines(1));
  const err = (await waitForJob(svc.client, id, fast).catch((e: unknown) => e)) as JobEndedError;
  assert.ok(err instanceof JobEndedError);
  assert.match(err.message, /ended Failed: .*2/);
  assert.equal(err.job.Status.Phase, 'Failed');
});

test('submitting the same input while its job is active returns that job with a notice, not a second job', async (t) => {
  const held = heldResponder();
  const svc = await startArkService(t, { responder: held.responder });
  const first = await submit(svc, 'same.jsonl', inputLines(3));
  const again = await createJob(svc.client, request('same.jsonl', { name: 'another-name' }));
  assert.deepEqual([again.id, again.existing], [first, true]);
  assert.match(again.notice ?? '', new RegExp(`job ${first} .*already runs`));
  const dry = await createJob(svc.client, request('same.jsonl', { dryRun: true }));
  assert.deepEqual([dry.id, dry.existing, dry.dryRun], [first, true, true]);
  assert.equal((await listJobs(svc.client)).length, 1);
  held.release();
  await waitForJob(svc.client, first, fast);
  const next = await createJob(svc.client, request('same.jsonl'));
  assert.notEqual(next.id, first, 'once the first job ended, a new submission makes a new job');
  assert.equal(next.existing, false);
});

test('a dry run checks the request without creating a job, and reports a missing input', async (t) => {
  const svc = await startArkService(t);
  await svc.put('in-bkt', 'ok.jsonl', inputLines(1));
  const dry = await createJob(svc.client, request('ok.jsonl', { dryRun: true }));
  assert.deepEqual([dry.id, dry.dryRun, dry.existing], [undefined, true, false]);
  assert.equal((await listJobs(svc.client)).length, 0);
  const missing = (await createJob(svc.client, request('nope.jsonl', { dryRun: true })).catch((e: unknown) => e)) as ArkApiError;
  assert.deepEqual([missing.code, missing.remoteCode, missing.status], ['E_ARK_API', 'InvalidParameter', 400]);
});

test('bad names, windows and model references are refused locally before any request', async () => {
  const client: ArkOpenApiClient = {
    call: async () => assert.fail('no request may be sent'),
    close: async () => {},
  };
  const cases: Array<[Partial<CreateJobRequest>, RegExp]> = [
    [{ name: 'has space' }, /job name/],
    [{ name: '' }, /job name/],
    [{ name: 'x'.repeat(201) }, /job name/],
    [{ completionWindow: '29d' }, /completion window/],
    [{ completionWindow: '12h' }, /completion window/],
    [{ completionWindow: '0d' }, /completion window/],
    [{ model: { name: '' } }, /model name/],
    [{ model: { customModelId: 'cm-1', name: 'x' } as never }, /not both/],
    [{ outputDir: { bucket: 'out-bkt', key: 'no-slash' } }, /ending in \//],
    [{ input: { bucket: 'in-bkt', key: 'dir/' } }, /input/],
    [{ description: 'd'.repeat(301) }, /300/],
    [{ tags: { 'sys:x': 'y' } }, /sys:/],
  ];
  for (const [extra, re] of cases) {
    await assert.rejects(createJob(client, request('k.jsonl', extra)), (e: ArkBatchError) => e.code === 'E_USAGE' && re.test(e.message), JSON.stringify(extra));
  }
  assert.deepEqual(createJobBody(request('k.jsonl', { name: '中文-任务_1', model: { customModelId: 'cm-1' }, completionWindow: '7 days', outputDir: { bucket: 'out-bkt', key: '' } })), {
    Name: '中文-任务_1',
    ModelReference: { CustomModelId: 'cm-1' },
    InputFileTosLocation: { BucketName: 'in-bkt', ObjectKey: 'k.jsonl' },
    OutputDirTosLocation: { BucketName: 'out-bkt', ObjectKey: '' },
    CompletionWindow: '7d',
  });
  assert.equal(normalizeCompletionWindow('28d'), '28d');
  assert.equal(normalizeCompletionWindow('1 day'), '1d');
});

test('listing follows every page, filters by name, and stops at a limit', async (t) => {
  const held = heldResponder();
  const svc = await startArkService(t, { responder: held.responder, maxRunning: 10 });
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) ids.push(await submit(svc, `p${i}.jsonl`, inputLines(1), { name: i < 3 ? `alpha-${i}` : `beta-${i}` }));
  const all = await listJobs(svc.client, { pageSize: 2 });
  assert.deepEqual(all.map((j) => j.Id).sort(), [...ids].sort());
  assert.equal((await listJobs(svc.client, { pageSize: 2, limit: 3 })).length, 3);
  assert.deepEqual((await listJobs(svc.client, { pageSize: 2, name: 'alpha' })).map((j) => j.Name).sort(), ['alpha-0', 'alpha-1', 'alpha-2']);
  assert.equal((await listJobs(svc.client, { projectName: 'elsewhere' })).length, 0);
  held.release();
});

test('stop, resume, update and delete drive a job; a deleted job is NotFound', async (t) => {
  let block = true;
  let calls = 0;
  const echo = createEchoResponder({ seed: 5 });
  const svc = await startArkService(t, {
    concurrencyPerJob: 1,
    responder: async (body, signal) => {
      calls++;
      if (block) await abortable(new Promise<void>(() => {}), signal);
      return echo(body, signal);
    },
  });
  const id = await submit(svc, 'life.jsonl', inputLines(3));
  await until('a line is in flight', () => calls >= 1);
  await stopJob(svc.client, id);
  await assert.rejects(waitForJob(svc.client, id, fast), JobEndedError);
  block = false;
  await resumeJob(svc.client, id);
  const done = await waitForJob(svc.client, id, fast);
  assert.deepEqual(done.RequestCounts, { Total: 3, Completed: 3, Failed: 0 });
  await updateJob(svc.client, id, { name: 'renamed', description: '说明 ✓' });
  const after = await getJob(svc.client, id);
  assert.deepEqual([after.Name, after.Description], ['renamed', '说明 ✓']);
  await deleteJob(svc.client, id);
  const gone = (await getJob(svc.client, id).catch((e: unknown) => e)) as ArkApiError;
  assert.deepEqual([gone.remoteCode, gone.status], ['NotFound.BatchInferenceJob', 404]);
  const again = (await stopJob(svc.client, id).catch((e: unknown) => e)) as ArkApiError;
  assert.equal(again.status, 404);
});

test('waiting gives up with E_TIMEOUT while the job is still running', async (t) => {
  const held = heldResponder();
  const svc = await startArkService(t, { responder: held.responder });
  const id = await submit(svc, 'slow.jsonl', inputLines(2));
  const progress: ArkJob[] = [];
  await assert.rejects(waitForJob(svc.client, id, { intervalMs: 5, timeoutMs: 60, onProgress: (j) => progress.push(j) }), (e: ArkBatchError) => e.code === 'E_TIMEOUT' && /still (Queued|Running)/.test(e.message));
  assert.ok(progress.length >= 1);
  held.release();
});

test('with 20% of OpenAPI calls failing 503 the whole life cycle still succeeds', async (t) => {
  const svc = await startArkService(t, { faults: 'openapi=0.2:503', seed: 11 });
  const dir = await tempDir(t);
  const id = await submit(svc, 'faulty.jsonl', inputLines(12, (i) => (i === 5 ? 'AccessDenied' : undefined)));
  const job = await waitForJob(svc.client, id, fast);
  assert.deepEqual(job.RequestCounts, { Total: 12, Completed: 11, Failed: 1 });
  assert.equal((await listJobs(svc.client, { pageSize: 1 })).length, 1);
  const files = await downloadJobResults({ tos: svc.tos, job, dir });
  assert.deepEqual(files.map((f) => f.lines), [11, 1]);
});

test('listing copes with services that omit TotalCount, shift items between pages, or ignore PageNumber', async () => {
  const jobs = Array.from({ length: 5 }, (_, i) => ({ Id: `bi-2025010100000${i}-aaaaa`, Status: { Phase: 'Completed' } }));
  const fake = (page: (n: number) => { Items: unknown[]; TotalCount?: number }) => {
    const calls: number[] = [];
    const client: ArkOpenApiClient = {
      call: async <T,>(_action: string, params?: object) => {
        const n = (params as { PageNumber: number }).PageNumber;
        calls.push(n);
        return { result: page(n) as T, requestId: 'r' };
      },
      close: async () => {},
    };
    return { client, calls };
  };
  const noTotal = fake((n) => ({ Items: jobs.slice((n - 1) * 2, n * 2) }));
  assert.equal((await listJobs(noTotal.client, { pageSize: 2 })).length, 5);
  assert.deepEqual(noTotal.calls, [1, 2, 3]);
  // A new job pushed everything one place down between page 1 and 2: job 1 shows up twice.
  const shifted = fake((n) => ({ Items: n === 1 ? jobs.slice(0, 2) : jobs.slice(1 + (n - 2) * 2, 1 + (n - 1) * 2), TotalCount: 6 }));
  assert.deepEqual((await listJobs(shifted.client, { pageSize: 2 })).map((j) => j.Id), jobs.map((j) => j.Id));
  const stuck = fake(() => ({ Items: jobs.slice(0, 2), TotalCount: 100 }));
  assert.equal((await listJobs(stuck.client, { pageSize: 2 })).length, 2);
  assert.deepEqual(stuck.calls, [1, 2]);
});

test('an aborted wait rejects with E_ABORTED and leaves the job running', async (t) => {
  const held = heldResponder();
  const svc = await startArkService(t, { responder: held.responder });
  const id = await submit(svc, 'abort.jsonl', inputLines(1));
  const controller = new AbortController();
  const waiting = waitForJob(svc.client, id, { intervalMs: 10, signal: controller.signal, onProgress: () => setTimeout(() => controller.abort(new Error('Ctrl-C')), 5) });
  await assert.rejects(waiting, (e: ArkBatchError) => e.code === 'E_ABORTED' && /keeps running/.test(e.message));
  assert.ok(['Queued', 'Running'].includes((await getJob(svc.client, id)).Status.Phase));
  held.release();
});
