import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArkJob } from '../lib/ark/jobs.ts';
import { downloadJobResults } from '../lib/ark/results.ts';
import type { ArkBatchError } from '../lib/errors.ts';
import { startArkService } from './helpers/ark-service.ts';

const ID = 'bi-20250305220634-abcde';
const job = (extra: Partial<ArkJob> = {}): ArkJob => ({ Id: ID, Status: { Phase: 'Completed' }, OutputDirTosLocation: { BucketName: 'out-bkt', ObjectKey: 'runs/' }, ...extra });

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ark-results-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function bigJsonl(lines: number): string {
  let s = '';
  for (let i = 0; i < lines; i++) s += JSON.stringify({ custom_id: `row-${i}`, response: { body: { content: `结果 ${i} 😀 ${'x'.repeat(i % 300)}` } } }) + '\n';
  return s;
}

test('results in the output/ layout download byte for byte through the real TOS SDK', async (t) => {
  const svc = await startArkService(t);
  const dir = await tempDir(t);
  const results = bigJsonl(20_000);
  const errors = '{"custom_id":"row-x","error":{"code":"AccessDenied"}}';
  await svc.put('out-bkt', `runs/${ID}/output/results.jsonl`, results);
  await svc.put('out-bkt', `runs/${ID}/output/errors.jsonl`, errors);
  const files = await downloadJobResults({ tos: svc.tos, job: job(), dir });
  assert.deepEqual(files.map((f) => [f.localName, f.lines, f.bytes]), [
    ['results.jsonl', 20_000, Buffer.byteLength(results)],
    ['errors.jsonl', 1, Buffer.byteLength(errors)],
  ]);
  assert.equal(await readFile(join(dir, 'results.jsonl'), 'utf8'), results);
  assert.equal(await readFile(join(dir, 'errors.jsonl'), 'utf8'), errors);
});

test('results in the error/ layout with ErrorFileTosLocation download too; a missing unlisted errors file is skipped', async (t) => {
  const svc = await startArkService(t);
  const dir = await tempDir(t);
  await svc.put('out-bkt', `runs/${ID}/output/results.jsonl`, '{"custom_id":"a"}\n');
  await svc.put('out-bkt', `runs/${ID}/error/errors.jsonl`, '{"custom_id":"b"}\n');
  const withLoc = job({ ErrorFileTosLocation: { BucketName: 'out-bkt', ObjectKey: `runs/${ID}/error/errors.jsonl` } });
  assert.deepEqual((await downloadJobResults({ tos: svc.tos, job: withLoc, dir })).map((f) => f.localName), ['results.jsonl', 'errors.jsonl']);
  assert.equal(await readFile(join(dir, 'errors.jsonl'), 'utf8'), '{"custom_id":"b"}\n');
  const dir2 = await tempDir(t);
  const ghost = job({ ErrorFileTosLocation: { BucketName: 'out-bkt', ObjectKey: `runs/${ID}/nothing/errors.jsonl` } });
  const got = await downloadJobResults({ tos: svc.tos, job: ghost, dir: dir2 });
  // Two candidates for errors: the listed one is kept, the absent one skipped.
  assert.deepEqual(got.map((f) => f.localName), ['results.jsonl', 'errors-1.jsonl']);
  assert.deepEqual((await readdir(dir2)).sort(), ['errors-1.jsonl', 'results.jsonl']);
});

test('connections reset mid-body are retried and the file still verifies', async (t) => {
  const svc = await startArkService(t, { faults: 'getObject=0.5:reset', seed: 3 });
  const dir = await tempDir(t);
  const results = bigJsonl(5_000);
  await svc.put('out-bkt', `runs/${ID}/output/results.jsonl`, results);
  const files = await downloadJobResults({ tos: svc.tos, job: job(), dir, retries: 8 });
  assert.equal(files[0].bytes, Buffer.byteLength(results));
  assert.equal(await readFile(join(dir, 'results.jsonl'), 'utf8'), results);
});

test('a download that keeps failing leaves the old file and no temp file behind', async (t) => {
  const svc = await startArkService(t, { faults: 'getObject=1:reset' });
  const dir = await tempDir(t);
  await svc.put('out-bkt', `runs/${ID}/output/results.jsonl`, bigJsonl(3_000));
  await writeFile(join(dir, 'results.jsonl'), 'old\n');
  await assert.rejects(downloadJobResults({ tos: svc.tos, job: job(), dir, retries: 1 }), (e: ArkBatchError) => e.code === 'E_DOWNLOAD' && e.message.includes(`tos://out-bkt/runs/${ID}/output/results.jsonl`));
  assert.deepEqual(await readdir(dir), ['results.jsonl']);
  assert.equal(await readFile(join(dir, 'results.jsonl'), 'utf8'), 'old\n');
});

test('a body whose CRC-64 differs from x-tos-hash-crc64ecma is refused after its retries, and no file is written', async (t) => {
  const svc = await startArkService(t);
  const dir = await tempDir(t);
  await svc.put('out-bkt', `runs/${ID}/output/results.jsonl`, bigJsonl(100));
  // Flip a byte of the stored data behind the store's back: same size, different CRC-64.
  const objects = join(svc.server.dataDir, 'tos', 'buckets', 'out-bkt', 'objects');
  const [data] = (await readdir(objects)).filter((n) => n.endsWith('.bin'));
  const bytes = await readFile(join(objects, data));
  bytes[10] ^= 0x01;
  await writeFile(join(objects, data), bytes);
  await assert.rejects(downloadJobResults({ tos: svc.tos, job: job(), dir, retries: 1 }), (e: ArkBatchError) => e.code === 'E_INTEGRITY' && /does not match x-tos-hash-crc64ecma/.test(e.message));
  assert.deepEqual(await readdir(dir), []);
});

test('an aborted download rejects with E_ABORTED and leaves no temp file', async (t) => {
  const svc = await startArkService(t);
  const dir = await tempDir(t);
  await svc.put('out-bkt', `runs/${ID}/output/results.jsonl`, bigJsonl(10));
  await svc.put('out-bkt', `runs/${ID}/output/results-2.jsonl`, bigJsonl(10));
  const controller = new AbortController();
  await assert.rejects(downloadJobResults({ tos: svc.tos, job: job(), dir, signal: controller.signal, onFile: () => controller.abort() }), (e: ArkBatchError) => e.code === 'E_ABORTED');
  assert.deepEqual(await readdir(dir), ['results-1.jsonl']);
});
