import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { runPipeline, type RunStages } from '../lib/run/run.ts';
import { RUN_STAGES, runKey, statePath, type RunStage } from '../lib/run/state.ts';

/** Stages over a fake service that keeps one active job per input, like Ark's idempotency rule. */
function fakeService(crashAt: { stage: RunStage; afterEffect: boolean } | null) {
  const calls: string[] = [];
  const jobs: string[] = [];
  let crashed = false;
  const maybeCrash = (stage: RunStage, when: 'before' | 'after') => {
    if (crashAt && !crashed && crashAt.stage === stage && crashAt.afterEffect === (when === 'after')) {
      crashed = true;
      throw new Error(`crash in ${stage}`);
    }
  };
  const stages: RunStages = {
    async upload() {
      calls.push('upload');
      maybeCrash('upload', 'before');
      maybeCrash('upload', 'after');
      return { bucket: 'b', key: 'k', lines: 3, bytes: 99 };
    },
    async submit(input) {
      calls.push('submit');
      maybeCrash('submit', 'before');
      // The service answers a second submission for the same input with the active job.
      if (jobs.length === 0) jobs.push(`bi-job-${input.key}`);
      maybeCrash('submit', 'after');
      return jobs[0]!;
    },
    async wait(id) {
      calls.push(`wait ${id}`);
      maybeCrash('wait', 'before');
      maybeCrash('wait', 'after');
    },
    async results(id) {
      calls.push('results');
      maybeCrash('results', 'before');
      maybeCrash('results', 'after');
      return [`${id}.results.jsonl`];
    },
    async join(files) {
      calls.push('join');
      maybeCrash('join', 'before');
      maybeCrash('join', 'after');
      return `joined from ${files.join(',')}`;
    },
  };
  return { stages, calls, jobs };
}

test('a run interrupted at any stage continues there and never submits a second job', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'run-state-'));
  try {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...RUN_STAGES), fc.boolean(), async (stage, afterEffect) => {
        const key = runKey({ stage, afterEffect, n: Math.random() });
        const path = statePath(dir, key);
        const svc = fakeService({ stage, afterEffect });
        await assert.rejects(runPipeline({ statePath: path, key, stages: svc.stages }), /crash/);
        const final = await runPipeline({ statePath: path, key, stages: svc.stages });
        assert.deepEqual(final.done, [...RUN_STAGES]);
        assert.equal(final.output, `joined from bi-job-k.results.jsonl`);
        assert.equal(svc.jobs.length, 1, 'one job only');
        const before = RUN_STAGES.indexOf(stage);
        // Every stage before the crash ran exactly once.
        for (const s of RUN_STAGES.slice(0, before)) assert.equal(svc.calls.filter((c) => c.split(' ')[0] === s).length, 1, s);
        const again = await runPipeline({ statePath: path, key, stages: svc.stages });
        assert.deepEqual(again.done, final.done);
      }),
      { numRuns: 20 },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('run keys are stable and state files refuse another run', async () => {
  assert.equal(runKey({ a: 1, b: 'x' }), runKey({ b: 'x', a: 1 }));
  assert.notEqual(runKey({ a: 1 }), runKey({ a: 2 }));
  assert.notEqual(runKey({ o: { user: 'x' } }), runKey({ o: { user: 'y' } }));
  assert.equal(runKey({ o: { a: 1, b: 2 } }), runKey({ o: { b: 2, a: 1 } }));
  const dir = await mkdtemp(join(tmpdir(), 'run-state-'));
  try {
    const path = join(dir, 's.json');
    await writeFile(path, JSON.stringify({ version: 1, key: 'other', done: [] }));
    await assert.rejects(runPipeline({ statePath: path, key: 'mine', stages: fakeService(null).stages }), /another run/);
    const svc = fakeService(null);
    await runPipeline({ statePath: join(dir, 'u.json'), key: 'k1', stages: svc.stages, until: 'results' });
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'u.json'), 'utf8')).done, ['upload', 'submit', 'wait', 'results']);
    assert.ok(!svc.calls.includes('join'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
