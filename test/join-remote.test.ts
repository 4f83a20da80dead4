import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'ark-batch.js');

test('join and retry take a job id or tos:// objects as inputs (--local)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'join-remote-'));
  const cli = async (...args: string[]) => (await run(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, VOLC_ACCESSKEY: '', VOLC_SECRETKEY: '' } })).stdout.trim();
  try {
    await writeFile(join(dir, 'in.csv'), 'id,q\na,hello\nb,"bad [[fail:InvalidParameter]]"\nc,你好\n');
    await cli('prep', 'in.csv', '--id', 'id', '--user', '{{q}}', '-o', 'batch.jsonl', '-q');
    await cli('upload', 'batch.jsonl', 'tos://jobs/in.jsonl', '--local', '-q');
    const id = await cli('submit', 'tos://jobs/in.jsonl', '--model', 'm', '--output', 'tos://jobs/out/', '--local', '-q');
    assert.match(id, /^bi-\d{14}-[a-z0-9]{5}$/);
    await cli('wait', id, '--local', '--interval', '100ms', '-q');

    const byJob = JSON.parse(await cli('join', 'in.csv', '--id', 'id', '-r', id, '--local', '--json', '-o', 'by-job.jsonl'));
    assert.deepEqual([byJob.rows, byJob.ok, byJob.error, byJob.missing], [3, 2, 1, 0]);

    const byObject = JSON.parse(
      await cli('join', 'in.csv', '--id', 'id', '-r', `tos://jobs/out/${id}/output/results.jsonl`, '-e', `tos://jobs/out/${id}/error/errors.jsonl`, '--local', '--json', '-o', 'by-object.jsonl'),
    );
    assert.deepEqual([byObject.ok, byObject.error, byObject.missing], [2, 1, 0]);

    const retry = await cli('retry', 'batch.jsonl', '-r', id, '--local', '-q');
    assert.deepEqual(retry.split('\n').map((l) => JSON.parse(l).custom_id), ['b']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
