import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ArkJob } from '../lib/ark/jobs.ts';
import { jobOutputPrefix, kindOfKey, locateResults, type ListedObject, type ListObjects } from '../lib/ark/results-location.ts';

const ID = 'bi-20250305220634-abcde';

function job(extra: Partial<ArkJob> = {}): ArkJob {
  return { Id: ID, Status: { Phase: 'Completed' }, OutputDirTosLocation: { BucketName: 'out', ObjectKey: 'runs/' }, ...extra };
}

function lister(keys: readonly string[], calls: string[] = []): ListObjects {
  return async function* (bucket, prefix) {
    calls.push(`${bucket}/${prefix}`);
    for (const key of keys) if (key.startsWith(prefix)) yield { key, size: key.length } satisfies ListedObject;
  };
}

test('the English-guide layout: both files under output/', async () => {
  const calls: string[] = [];
  const files = await locateResults(job(), lister([`runs/${ID}/output/results.jsonl`, `runs/${ID}/output/errors.jsonl`, `runs/other/output/results.jsonl`], calls));
  assert.deepEqual(calls, [`out/runs/${ID}/`]);
  assert.deepEqual(files.map((f) => [f.kind, f.key, f.localName, f.listed]), [
    ['results', `runs/${ID}/output/results.jsonl`, 'results.jsonl', true],
    ['errors', `runs/${ID}/output/errors.jsonl`, 'errors.jsonl', true],
  ]);
});

test('the Chinese-guide layout: errors under error/, found by listing when Get gives no ErrorFileTosLocation', async () => {
  const files = await locateResults(job(), lister([`runs/${ID}/error/errors.jsonl`, `runs/${ID}/output/results.jsonl`, `runs/${ID}/output/_SUCCESS`, `runs/${ID}/manifest.json`]));
  assert.deepEqual(files.map((f) => [f.kind, f.localName]), [['results', 'results.jsonl'], ['errors', 'errors.jsonl']]);
});

test('ErrorFileTosLocation wins, also outside the prefix and when the listing does not show it', async () => {
  const elsewhere = { BucketName: 'errs', ObjectKey: 'x/failed-lines.jsonl' };
  const files = await locateResults(job({ ErrorFileTosLocation: elsewhere }), lister([`runs/${ID}/output/results.jsonl`]));
  assert.deepEqual(files.map((f) => [f.kind, f.bucket, f.key, f.listed]), [
    ['results', 'out', `runs/${ID}/output/results.jsonl`, true],
    ['errors', 'errs', 'x/failed-lines.jsonl', false],
  ]);
  // A listed file named by ErrorFileTosLocation is an errors file whatever its name.
  const named = await locateResults(job({ ErrorFileTosLocation: { BucketName: 'out', ObjectKey: `runs/${ID}/output/part-2.jsonl` } }), lister([`runs/${ID}/output/part-1.jsonl`, `runs/${ID}/output/part-2.jsonl`]));
  assert.deepEqual(named.map((f) => [f.kind, f.localName, f.listed]), [['results', 'results.jsonl', true], ['errors', 'errors.jsonl', true]]);
});

test('several files of a kind are numbered in key order; a job with none has none', async () => {
  const files = await locateResults(job(), lister([`runs/${ID}/output/results-2.jsonl`, `runs/${ID}/output/results-1.jsonl`]));
  assert.deepEqual(files.map((f) => f.localName), ['results-1.jsonl', 'results-2.jsonl']);
  assert.equal(files[0].key, `runs/${ID}/output/results-1.jsonl`);
  assert.deepEqual(await locateResults(job(), lister([])), []);
  assert.deepEqual(jobOutputPrefix(job({ OutputDirTosLocation: { BucketName: 'b', ObjectKey: '' } })), { bucket: 'b', prefix: `${ID}/` });
  assert.throws(() => jobOutputPrefix({ Id: ID }), /OutputDirTosLocation/);
});

test('kinds: error folders and error-named files are errors, everything else results', () => {
  for (const k of ['error/errors.jsonl', 'errors/x.jsonl', 'output/errors.jsonl', 'output/Error-1.jsonl']) assert.equal(kindOfKey(k), 'errors', k);
  for (const k of ['output/results.jsonl', 'results.jsonl', 'output/terror.jsonl', 'erroneous/x/results.jsonl']) assert.equal(kindOfKey(k), 'results', k);
});

test('property: every .jsonl under the prefix is taken exactly once, with unique local names', async () => {
  const segment = fc.stringMatching(/^[a-zA-Z0-9_\-\u4e00-\u4e0f😀]{1,8}$/);
  const key = fc.tuple(fc.array(segment, { maxLength: 3 }), segment, fc.constantFrom('.jsonl', '.JSONL', '.json', '')).map(([dirs, name, ext]) => [...dirs, name + ext].join('/'));
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(key, { maxLength: 12 }), fc.array(key, { maxLength: 3 }), async (inside, outside) => {
      const keys = [...inside.map((k) => `runs/${ID}/${k}`), ...outside.map((k) => `runs/zz/${k}`)];
      const files = await locateResults(job(), lister(keys));
      const expected = inside.filter((k) => k.toLowerCase().endsWith('.jsonl')).map((k) => `runs/${ID}/${k}`);
      assert.deepEqual(files.map((f) => f.key).sort(), [...expected].sort());
      assert.equal(new Set(files.map((f) => f.localName)).size, files.length);
      for (const f of files) assert.equal(f.kind, kindOfKey(f.key.slice(`runs/${ID}/`.length)));
    }),
    { numRuns: 200 },
  );
});
