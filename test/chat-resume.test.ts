import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { openAppendWriter } from '../lib/chat/append-writer.ts';
import { collectDoneIds, repairTornTail } from '../lib/chat/resume.ts';
import { ArkBatchError } from '../lib/errors.ts';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-resume-'));
after(() => fs.rm(dir, { recursive: true, force: true }));
let n = 0;
const file = () => path.join(dir, `f${++n}.jsonl`);

const idArb = fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }), fc.constantFrom('评论-1', '😀🌌', '\ud83d\ude00x', 'a\nb'));
const outputLine = (id: string, i: number) => JSON.stringify({ id: `req-${i}`, custom_id: id, error: null, response: { request_id: `req-${i}`, status_code: 200, body: { content: `答 ${id} ${'x'.repeat(i % 7 * 1000)}` } } });

test('a torn last line is cut off and every complete line is kept, whatever the ids and sizes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(idArb, { maxLength: 30 }), fc.nat(), async (ids, cutSeed) => {
      const p = file();
      const complete = ids.map(outputLine).join('\n') + (ids.length ? '\n' : '');
      const torn = outputLine('torn-id', 3);
      // Any strict prefix of a line, cut anywhere (inside a multi-byte character too).
      const tornBytes = Buffer.from(torn).subarray(0, cutSeed % Buffer.byteLength(torn));
      await fs.writeFile(p, Buffer.concat([Buffer.from(complete), tornBytes]));
      assert.equal(await repairTornTail(p), tornBytes.length);
      assert.equal(await fs.readFile(p, 'utf8'), complete);
      const done = new Set<string>();
      assert.deepEqual(await collectDoneIds([p], done), [ids.length]);
      assert.deepEqual([...done].sort(), [...ids].sort());
    }),
    { numRuns: 40 },
  );
});

test('a missing file is empty, and a file that is one torn line becomes empty', async () => {
  const p = file();
  assert.equal(await repairTornTail(p), 0);
  assert.deepEqual(await collectDoneIds([p], new Set()), [0]);
  await fs.writeFile(p, '{"id":"x","custom_');
  assert.equal(await repairTornTail(p), 18);
  assert.equal((await fs.stat(p)).size, 0);
});

test('a complete line without a custom_id means the file is not ours: E_JSONL_PARSE at its line', async () => {
  const p = file();
  await fs.writeFile(p, `${outputLine('a', 1)}\n{"hello":1}\n`);
  await assert.rejects(collectDoneIds([p], new Set()), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_JSONL_PARSE' && e.line === 2);
});

test('more finished ids than maxIds fail loudly', async () => {
  const p = file();
  await fs.writeFile(p, ['a', 'b', 'c'].map(outputLine).join('\n') + '\n');
  await assert.rejects(collectDoneIds([p], new Set(), { maxIds: 2 }), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_BUFFER_LIMIT');
});

test('the append writer keeps every line, in order, across size- and timer-driven flushes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.string({ unit: 'grapheme', maxLength: 300 }).map((s) => JSON.stringify(s)), { maxLength: 200 }), fc.integer({ min: 1, max: 4096 }), async (lines, maxBufferBytes) => {
      const p = file();
      await fs.writeFile(p, 'existing\n');
      const w = await openAppendWriter(p, { maxBufferBytes, flushIntervalMs: 1 });
      for (const l of lines) await w.write(l);
      await w.close();
      assert.equal(await fs.readFile(p, 'utf8'), 'existing\n' + lines.map((l) => l + '\n').join(''));
    }),
    { numRuns: 30 },
  );
});

test('writes after close are refused', async () => {
  const w = await openAppendWriter(file());
  await w.close();
  await assert.rejects(w.write('x'), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_USAGE');
});
