import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createJobEngine, newJobId } from '../lib/local/jobs.ts';
import { parseInputLine } from '../lib/local/job-lines.ts';
import type { BatchJob, CreateJobInput, JobEngine, JobEngineOptions } from '../lib/local/jobs.ts';
import { numberedLines } from '../lib/local/jsonl-lines.ts';
import { memoryStore } from './helpers/memory-store.ts';
import type { MemoryStore } from './helpers/memory-store.ts';
import { abortable, inputLine, testResponder } from './helpers/test-responder.ts';

interface Ctx {
  dir: string;
  store: MemoryStore;
  engines: JobEngine[];
}

async function setup(t: { after: (fn: () => Promise<void>) => void }): Promise<Ctx> {
  const dir = await mkdtemp(join(tmpdir(), 'ark-jobs-'));
  const store = memoryStore();
  await store.createBucket('in');
  await store.createBucket('out');
  const ctx: Ctx = { dir, store, engines: [] };
  t.after(async () => {
    for (const e of ctx.engines) await e.close();
    await rm(dir, { recursive: true, force: true });
  });
  return ctx;
}

async function engine(ctx: Ctx, opts: Partial<JobEngineOptions> = {}): Promise<JobEngine> {
  const e = await createJobEngine({ dataDir: ctx.dir, store: ctx.store, responder: testResponder(), expiryCheckMs: 0, ...opts });
  ctx.engines.push(e);
  return e;
}

function jobInput(key = 'batch.jsonl', extra: Partial<CreateJobInput> = {}): CreateJobInput {
  return {
    Name: 'test-job',
    ModelReference: { FoundationModel: { Name: 'doubao-pro-32k', ModelVersion: '240615' } },
    InputFileTosLocation: { BucketName: 'in', ObjectKey: key },
    OutputDirTosLocation: { BucketName: 'out', ObjectKey: 'results/' },
    CompletionWindow: '1d',
    ...extra,
  };
}

async function putLines(store: MemoryStore, key: string, lines: string[]): Promise<void> {
  await store.putObject('in', key, Buffer.from(lines.join('\n') + '\n'));
}

function outputLines(store: MemoryStore, job: BatchJob, kind: 'results' | 'errors'): Array<Record<string, any>> {
  const key = kind === 'results' ? `results/${job.Id}/output/results.jsonl` : `results/${job.Id}/error/errors.jsonl`;
  const text = store.text('out', key);
  if (text === undefined) return [];
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** A gate a test opens by hand; requests wait on it. */
function gate(): { wait: () => Promise<void>; open: () => void } {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { wait: () => p, open: () => open() };
}

test('job ids carry the creation time in UTC+8 and five lowercase alphanumerics', () => {
  assert.match(newJobId(Date.parse('2024-09-18T11:46:41Z')), /^bi-20240918194641-[a-z0-9]{5}$/);
});

test('a job runs every line and writes Ark-shaped results and errors files', async (t) => {
  const ctx = await setup(t);
  const e = await engine(ctx);
  await putLines(ctx.store, 'batch.jsonl', [inputLine('a', '你好 🌏'), inputLine('b', 'please [[fail:AccessDenied]]'), '', inputLine('c', 'x')]);
  const created = await e.create(jobInput());
  assert.match(created.Id, /^bi-\d{14}-[a-z0-9]{5}$/);
  assert.equal(created.Status.Phase, 'Queued');
  assert.deepEqual(created.Tags[0], { Key: 'sys:ark:createdBy', Value: 'IAMUser/local/ark-batch' });
  assert.equal(Date.parse(created.ExpireTime) - Date.parse(created.CreateTime), 86_400_000);
  const job = await e.waitFor(created.Id);
  assert.equal(job.Status.Phase, 'Completed');
  assert.deepEqual(job.RequestCounts, { Total: 3, Completed: 2, Failed: 1 });
  const promptTokens = [...'你好 🌏'].length + 1;
  assert.deepEqual(job.TokenUsage, { PromptTokens: promptTokens, CompletionTokens: promptTokens, TotalTokens: 2 * promptTokens });
  assert.deepEqual(job.ErrorFileTosLocation, { BucketName: 'out', ObjectKey: `results/${job.Id}/error/errors.jsonl` });

  const results = outputLines(ctx.store, job, 'results');
  assert.deepEqual(results.map((r) => r.custom_id).sort(), ['a', 'c']);
  for (const r of results) {
    assert.deepEqual(Object.keys(r), ['id', 'custom_id', 'error', 'response']);
    assert.equal(r.error, null);
    assert.deepEqual(Object.keys(r.response), ['request_id', 'status_code', 'body']);
    assert.equal(r.response.status_code, 200);
    assert.equal(r.id, r.response.request_id);
    assert.equal(r.response.body.id, r.id);
    assert.equal(r.response.body.model, 'doubao-pro-32k');
  }
  assert.equal(results.find((r) => r.custom_id === 'a')!.response.body.choices[0].message.content, '你好 🌏');
  const errors = outputLines(ctx.store, job, 'errors');
  assert.equal(errors.length, 1);
  assert.deepEqual(Object.keys(errors[0]), ['id', 'custom_id', 'response', 'error']);
  assert.equal(errors[0].custom_id, 'b');
  assert.equal(errors[0].error.code, 'AccessDenied');
  assert.equal(typeof errors[0].error.type, 'string');
  assert.equal(typeof errors[0].error.message, 'string');
  assert.equal(errors[0].response.status_code, 400);
});

test('a job without failures writes no errors file', async (t) => {
  const ctx = await setup(t);
  const e = await engine(ctx);
  await putLines(ctx.store, 'batch.jsonl', [inputLine('a', 'x')]);
  const job = await e.waitFor((await e.create(jobInput())).Id);
  assert.equal(job.ErrorFileTosLocation, undefined);
  assert.deepEqual(ctx.store.keys('out'), [`results/${job.Id}/output/results.jsonl`]);
});

test('results are written in completion order, not input order', async (t) => {
  const ctx = await setup(t);
  const fastDone = gate();
  const e = await engine(ctx, {
    concurrencyPerJob: 2,
    responder: testResponder(async (text) => {
      if (text === 'slow') await fastDone.wait();
    }),
  });
  await putLines(ctx.store, 'batch.jsonl', [inputLine('first', 'slow'), inputLine('second', 'fast')]);
  const created = await e.create(jobInput());
  // The fast request is journaled before the slow one is released.
  const poll = setInterval(() => {
    if (e.get(created.Id)!.RequestCounts.Completed === 1) fastDone.open();
  }, 5);
  const job = await e.waitFor(created.Id);
  clearInterval(poll);
  assert.deepEqual(outputLines(ctx.store, job, 'results').map((r) => r.custom_id), ['second', 'first']);
});

test('jobs beyond maxRunning wait as Queued and start when a slot frees', async (t) => {
  const ctx = await setup(t);
  const g = gate();
  const e = await engine(ctx, { maxRunning: 1, responder: testResponder(() => g.wait()) });
  await putLines(ctx.store, 'one.jsonl', [inputLine('a', 'x')]);
  await putLines(ctx.store, 'two.jsonl', [inputLine('a', 'y')]);
  const one = await e.create(jobInput('one.jsonl'));
  const two = await e.create(jobInput('two.jsonl'));
  await e.waitFor(one.Id, ['Running']);
  assert.equal(e.get(two.Id)!.Status.Phase, 'Queued');
  // Another project has its own running limit.
  await putLines(ctx.store, 'three.jsonl', [inputLine('a', 'z')]);
  const three = await e.create(jobInput('three.jsonl', { ProjectName: 'other' }));
  await e.waitFor(three.Id, ['Running']);
  g.open();
  assert.equal((await e.waitFor(one.Id)).Status.Phase, 'Completed');
  assert.equal((await e.waitFor(two.Id)).Status.Phase, 'Completed');
  assert.equal((await e.waitFor(three.Id)).Status.Phase, 'Completed');
});

test('a second job on the same project and input is refused while the first is active, naming it', async (t) => {
  const ctx = await setup(t);
  const g = gate();
  const e = await engine(ctx, { responder: testResponder(() => g.wait()) });
  await putLines(ctx.store, 'batch.jsonl', [inputLine('a', 'x')]);
  const first = await e.create(jobInput());
  await assert.rejects(e.create(jobInput()), (err: any) => err.remoteCode === 'ConflictOperation' && err.status === 409 && err.detail.includes(first.Id));
  // A different project may use the same object.
  const other = await e.create(jobInput('batch.jsonl', { ProjectName: 'p2' }));
  g.open();
  await e.waitFor(first.Id);
  await e.waitFor(other.Id);
  const again = await e.create(jobInput());
  assert.notEqual(again.Id, first.Id);
  await e.waitFor(again.Id);
});

test('stopping a running job terminates it and keeps the finished lines as partial results', async (t) => {
  const ctx = await setup(t);
  const third = gate();
  let seen = 0;
  const e = await engine(ctx, {
    concurrencyPerJob: 1,
    responder: testResponder(async () => {
      if (++seen === 3) {
        third.open();
        await new Promise(() => {});
      }
    }),
  });
  await putLines(ctx.store, 'batch.jsonl', ['a', 'b', 'c', 'd', 'e'].map((id) => inputLine(id, id)));
  const created = await e.create(jobInput());
  await third.wait();
  // Counts move while the job runs.
  const running = e.get(created.Id)!;
  assert.equal(running.Status.Phase, 'Running');
  assert.deepEqual(running.RequestCounts, { Total: 5, Completed: 2, Failed: 0 });
  assert.ok(running.TokenUsage.TotalTokens > 0);
  const stopping = await e.stop(created.Id);
  assert.ok(['Terminating', 'Terminated'].includes(stopping.Status.Phase));
  const job = await e.waitFor(created.Id);
  assert.equal(job.Status.Phase, 'Terminated');
  assert.deepEqual(job.RequestCounts, { Total: 5, Completed: 2, Failed: 0 });
  assert.deepEqual(outputLines(ctx.store, job, 'results').map((r) => r.custom_id), ['a', 'b']);
  await assert.rejects(e.stop(created.Id), (err: any) => err.remoteCode === 'OperationDenied.InvalidState');
});

test('stopping a queued job terminates it without output', async (t) => {
  const ctx = await setup(t);
  const g = gate();
  const e = await engine(ctx, { maxRunning: 1, responder: testResponder(() => g.wait()) });
  await putLines(ctx.store, 'one.jsonl', [inputLine('a', 'x')]);
  await putLines(ctx.store, 'two.jsonl', [inputLine('a', 'y')]);
  const one = await e.create(jobInput('one.jsonl'));
  const two = await e.create(jobInput('two.jsonl'));
  const stopped = await e.stop(two.Id);
  assert.equal(stopped.Status.Phase, 'Terminated');
  g.open();
  await e.waitFor(one.Id);
  assert.equal(ctx.store.text('out', `results/${two.Id}/output/results.jsonl`), undefined);
});

test('a job past its CompletionWindow is terminated with its partial results', async (t) => {
  const ctx = await setup(t);
  let nowMs = Date.parse('2025-03-05T14:06:34Z');
  const second = gate();
  let seen = 0;
  const e = await engine(ctx, {
    concurrencyPerJob: 1,
    clock: () => nowMs,
    responder: testResponder(async () => {
      if (++seen === 2) {
        second.open();
        await new Promise(() => {});
      }
    }),
  });
  await putLines(ctx.store, 'batch.jsonl', ['a', 'b', 'c'].map((id) => inputLine(id, id)));
  const created = await e.create(jobInput('batch.jsonl', { CompletionWindow: '28d' }));
  assert.equal(created.CreateTime, '2025-03-05T14:06:34Z');
  assert.equal(created.ExpireTime, '2025-04-02T14:06:34Z');
  await second.wait();
  nowMs += 27 * 86_400_000;
  await e.checkExpiry();
  assert.equal(e.get(created.Id)!.Status.Phase, 'Running');
  nowMs += 86_400_000;
  await e.checkExpiry();
  const job = await e.waitFor(created.Id);
  assert.equal(job.Status.Phase, 'Terminated');
  assert.match(job.Status.Message, /28d/);
  assert.deepEqual(outputLines(ctx.store, job, 'results').map((r) => r.custom_id), ['a']);
});

test('a line that is not JSON fails the whole job with a message naming the line', async (t) => {
  const ctx = await setup(t);
  const e = await engine(ctx);
  await putLines(ctx.store, 'batch.jsonl', [inputLine('a', 'x'), inputLine('b', 'y'), '{"custom_id": "c", body: 1}']);
  const job = await e.waitFor((await e.create(jobInput())).Id);
  assert.equal(job.Status.Phase, 'Failed');
  assert.match(job.Status.Message, /第3行非json数据/);
  assert.match(job.Status.Message, /line 3 is not valid JSON/);
  assert.deepEqual(ctx.store.keys('out'), []);
});

test('a missing input object or a line without custom_id or body fails the job', async (t) => {
  const ctx = await setup(t);
  const e = await engine(ctx);
  const missing = await e.waitFor((await e.create(jobInput('nope.jsonl'))).Id);
  assert.equal(missing.Status.Phase, 'Failed');
  assert.match(missing.Status.Message, /tos:\/\/in\/nope\.jsonl does not exist/);
  assert.match(parseInputLine(7, '{"body":{}}') && (parseInputLine(7, '{"body":{}}') as any).error, /line 7 has no custom_id/);
  assert.match((parseInputLine(2, '{"custom_id":"x","body":[]}') as any).error, /line 2 has no body/);
  assert.match((parseInputLine(4, '[1]') as any).error, /line 4 is not a JSON object/);
  assert.equal(parseInputLine(5, '  '), null);
});

test('a line longer than maxLineBytes fails the job instead of being buffered', async (t) => {
  const ctx = await setup(t);
  const e = await engine(ctx, { maxLineBytes: 100 });
  await putLines(ctx.store, 'batch.jsonl', [inputLine('a', 'x'), inputLine('b', 'y'.repeat(200))]);
  const job = await e.waitFor((await e.create(jobInput())).Id);
  assert.equal(job.Status.Phase, 'Failed');
  assert.match(job.Status.Message, /line 2 exceeds 100 bytes/);
});

test('resuming a failed job after fixing its input runs it to completion', async (t) => {
  const ctx = await setup(t);
  const e = await engine(ctx);
  await putLines(ctx.store, 'batch.jsonl', [inputLine('a', 'x'), 'oops']);
  const failed = await e.waitFor((await e.create(jobInput())).Id);
  assert.equal(failed.Status.Phase, 'Failed');
  await putLines(ctx.store, 'batch.jsonl', [inputLine('a', 'x'), inputLine('b', 'y')]);
  const resumed = await e.resume(failed.Id);
  assert.ok(['Queued', 'Running'].includes(resumed.Status.Phase));
  const job = await e.waitFor(failed.Id);
  assert.equal(job.Status.Phase, 'Completed');
  assert.deepEqual(job.RequestCounts, { Total: 2, Completed: 2, Failed: 0 });
  await assert.rejects(e.resume(failed.Id), (err: any) => err.remoteCode === 'OperationDenied.InvalidState');
});

test('resuming a stopped job runs only the unfinished lines', async (t) => {
  const ctx = await setup(t);
  const reached = gate();
  let block = true;
  let seen = 0;
  const e = await engine(ctx, {
    concurrencyPerJob: 1,
    responder: testResponder(async () => {
      if (block && ++seen === 3) {
        reached.open();
        await new Promise(() => {});
      }
    }),
  });
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
  await putLines(ctx.store, 'batch.jsonl', ids.map((id) => inputLine(id, id)));
  const created = await e.create(jobInput());
  await reached.wait();
  await e.stop(created.Id);
  assert.equal((await e.waitFor(created.Id)).RequestCounts.Completed, 2);
  block = false;
  await e.resume(created.Id);
  const job = await e.waitFor(created.Id, ['Completed']);
  assert.deepEqual(job.RequestCounts, { Total: 6, Completed: 6, Failed: 0 });
  assert.deepEqual(outputLines(ctx.store, job, 'results').map((r) => r.custom_id).sort(), ids);
});

test('update changes Name and Description; delete refuses active jobs and removes finished ones', async (t) => {
  const ctx = await setup(t);
  const g = gate();
  const e = await engine(ctx, { responder: testResponder(() => g.wait()) });
  await putLines(ctx.store, 'batch.jsonl', [inputLine('a', 'x')]);
  const created = await e.create(jobInput());
  const updated = await e.update(created.Id, { Name: 'renamed', Description: 'd' });
  assert.equal(updated.Name, 'renamed');
  assert.equal(updated.Description, 'd');
  await assert.rejects(e.delete(created.Id), (err: any) => err.remoteCode === 'OperationDenied.InvalidState');
  g.open();
  await e.waitFor(created.Id);
  await e.delete(created.Id);
  assert.equal(e.get(created.Id), undefined);
  await assert.rejects(e.stop(created.Id), (err: any) => err.status === 404);
});

test('a job running when the engine dies continues after a restart without losing or duplicating lines', async (t) => {
  const ids = Array.from({ length: 40 }, (_, i) => `row-${i + 1}`);
  for (const [stopAfter, graceful] of [[1, true], [7, true], [23, true], [5, false], [30, false]] as const) {
    const ctx = await setup(t);
    const reached = gate();
    const thaw = gate();
    let seen = 0;
    const echo = testResponder();
    const opts: JobEngineOptions = {
      dataDir: ctx.dir,
      store: ctx.store,
      expiryCheckMs: 0,
      concurrencyPerJob: 4,
      journalSyncEvery: 3,
      // Past `stopAfter` requests hang; in the crash case they also ignore their abort signal,
      // so the abandoned engine never writes again, as if killed.
      responder: async (body, signal) => {
        if (++seen > stopAfter) {
          reached.open();
          await (graceful ? abortable(new Promise(() => {}), signal) : thaw.wait());
        }
        return echo(body, signal);
      },
    };
    // A graceful stop flushes journals via close(); the crash case just abandons the engine.
    const first = graceful ? await engine(ctx, opts) : await createJobEngine(opts);
    await putLines(ctx.store, 'batch.jsonl', ids.map((id, i) => inputLine(id, i % 5 === 0 ? `[[fail:500]] ${id}` : `客 ${id}`)));
    const created = await first.create(jobInput());
    await reached.wait();
    if (graceful) await first.close();
    else {
      // Let the requests that did finish reach the journal; the rest never will.
      while (first.get(created.Id)!.RequestCounts.Completed + first.get(created.Id)!.RequestCounts.Failed < stopAfter) {
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    assert.equal(first.get(created.Id)!.Status.Phase, 'Running');
    // A crash mid-append leaves a torn record; it must be cut, not parsed or published.
    const jobDir = join(ctx.dir, 'ark-jobs', created.Id);
    assert.deepEqual(await readdir(jobDir), ['journal.jsonl']);
    await appendFile(join(jobDir, 'journal.jsonl'), '{"n":999,"ok":tr');

    const second = await engine(ctx);
    const job = await second.waitFor(created.Id);
    assert.equal(job.Status.Phase, 'Completed');
    assert.deepEqual(job.RequestCounts, { Total: 40, Completed: 32, Failed: 8 });
    const all = [...outputLines(ctx.store, job, 'results'), ...outputLines(ctx.store, job, 'errors')].map((r) => r.custom_id);
    assert.deepEqual(all.sort(), [...ids].sort());
    if (!graceful) {
      // Reap the abandoned engine so its journal handle is closed, not left to the GC.
      const reaped = first.close();
      thaw.open();
      await reaped;
    }
  }
});

test('a queued job survives a restart and runs afterwards', async (t) => {
  const ctx = await setup(t);
  const g = gate();
  const first = await engine(ctx, { maxRunning: 1, responder: testResponder(() => g.wait()) });
  await putLines(ctx.store, 'one.jsonl', [inputLine('a', 'x')]);
  await putLines(ctx.store, 'two.jsonl', [inputLine('a', 'y')]);
  const one = await first.create(jobInput('one.jsonl'));
  const two = await first.create(jobInput('two.jsonl'));
  await first.close();
  const second = await engine(ctx, { maxRunning: 1 });
  assert.equal(second.get(two.Id)!.Status.Phase, 'Queued');
  assert.equal((await second.waitFor(one.Id)).Status.Phase, 'Completed');
  assert.equal((await second.waitFor(two.Id)).Status.Phase, 'Completed');
});

test('line framing is independent of chunk boundaries, including split UTF-8', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.string({ unit: fc.constantFrom('a', 'é', '中', '😀', '\r', ' ', '"'), maxLength: 20 }), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 10 }),
      fc.boolean(),
      async (lines, cuts, trailingNewline) => {
        const text = lines.join('\n') + (trailingNewline ? '\n' : '');
        const bytes = Buffer.from(text);
        const chunks: Buffer[] = [];
        for (let i = 0, k = 0; i < bytes.length; k++) {
          const n = cuts[k % cuts.length];
          chunks.push(bytes.subarray(i, i + n));
          i += n;
        }
        const got: string[] = [];
        for await (const l of numberedLines((async function* () { yield* chunks; })(), 1000)) got.push(l.text);
        const expected = text.split('\n').map((l) => l.replace(/\r$/, ''));
        if (text.endsWith('\n') || text === '') expected.pop();
        assert.deepEqual(got, expected);
      },
    ),
    { numRuns: 200 },
  );
});
