import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ArkBatchError } from '../lib/errors.ts';
import { createLineBatcher, type LineBatch } from '../lib/jsonl/line-batch.ts';
import { createPartsWriter, type PartsWriter } from '../lib/jsonl/parts.ts';

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) files[f] = await readFile(join(dir, f), 'utf8');
  return files;
}

async function run(dir: string, feed: (w: PartsWriter) => Promise<void>, limits: { splitLines?: number; splitBytes?: number }) {
  const w = createPartsWriter({ path: join(dir, 'out.jsonl'), mode: 'parts', ...limits, writeBufferBytes: 64 });
  try {
    await feed(w);
    const manifest = await w.finish();
    return { manifest, files: await snapshot(dir), error: null };
  } catch (err) {
    await w.abort();
    assert.ok(err instanceof ArkBatchError, String(err));
    return { manifest: null, files: await snapshot(dir), error: `${err.code} ${err.message.replaceAll(dir, 'DIR')}` };
  }
}

test('writing LineBatches cuts the same parts, with the same errors, as writing the lines one by one', async () => {
  const line = fc.string({ unit: fc.constantFrom('a', 'é', '中', '😀', ' '), maxLength: 30 });
  await fc.assert(
    fc.asyncProperty(
      fc.array(line, { maxLength: 40 }),
      fc.integer({ min: 1, max: 200 }),
      fc.option(fc.integer({ min: 1, max: 7 }), { nil: undefined }),
      fc.option(fc.integer({ min: 20, max: 300 }), { nil: undefined }),
      async (lines, batchBytes, splitLines, splitBytes) => {
        const a = await mkdtemp(join(tmpdir(), 'ark-batch-pb-'));
        const b = await mkdtemp(join(tmpdir(), 'ark-batch-pb-'));
        try {
          const one = await run(a, async (w) => {
            for (const l of lines) await w.write(l);
          }, { splitLines, splitBytes });
          const batches: LineBatch[] = [];
          const batcher = createLineBatcher({ batchBytes, onBatch: (x) => batches.push(x) });
          for (const l of lines) batcher.add(l);
          batcher.flush();
          const many = await run(b, async (w) => {
            for (const x of batches) await w.writeBatch(x);
          }, { splitLines, splitBytes });
          assert.equal(many.error, one.error);
          assert.deepEqual(many.manifest, one.manifest);
          const strip = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).map(([k, v]) => [k.replace(/\.[0-9a-f]{12}\.tmp$/, '.tmp'), v]));
          assert.deepEqual(strip(many.files), strip(one.files));
        } finally {
          await rm(a, { recursive: true, force: true });
          await rm(b, { recursive: true, force: true });
        }
      },
    ),
    { numRuns: 80 },
  );
});

test('shared-memory batches go to the writer thread whole: the same file and sha256, each batch released once', async () => {
  const line = fc.string({ unit: fc.constantFrom('a', 'é', '中', '😀', ' ', '"'), maxLength: 50 });
  await fc.assert(
    fc.asyncProperty(fc.array(line, { maxLength: 60 }), fc.integer({ min: 1, max: 300 }), fc.boolean(), async (lines, batchBytes, mixLines) => {
      const a = await mkdtemp(join(tmpdir(), 'ark-batch-pb-'));
      const b = await mkdtemp(join(tmpdir(), 'ark-batch-pb-'));
      try {
        const reference = createPartsWriter({ path: join(a, 'out.jsonl'), mode: 'single' });
        for (const l of lines) await reference.write(l);
        const expected = await reference.finish();

        const batches: LineBatch[] = [];
        const batcher = createLineBatcher({ batchBytes, shared: true, onBatch: (x) => batches.push(x) });
        for (const l of lines) batcher.add(l);
        batcher.flush();
        let released = 0;
        const writer = createPartsWriter({ path: join(b, 'out.jsonl'), mode: 'single', writerThread: true, writeBufferBytes: 256 });
        for (const [i, x] of batches.entries()) {
          const counted: LineBatch = { data: x.data, ends: x.ends, release: () => (released++, x.release()) };
          // Lines written one by one in between go through the coalescing chunk, in order.
          if (mixLines && i % 2 === 1) for (let k = 0; k < x.ends.length; k++) await writer.write(x.data.subarray(k === 0 ? 0 : x.ends[k - 1], x.ends[k]! - 1));
          else await writer.writeBatch(counted);
        }
        const manifest = await writer.finish();
        assert.deepEqual(manifest, expected);
        assert.deepEqual(await readFile(join(b, 'out.jsonl')), await readFile(join(a, 'out.jsonl')));
        // Every batch written is released once: after the thread wrote it, or once copied.
        assert.equal(released, batches.filter((_, i) => !(mixLines && i % 2 === 1)).length);
        assert.ok(batches.some((x) => x.data.buffer instanceof SharedArrayBuffer) || lines.length === 0 || batches.every((x) => x.data.length > batchBytes));
      } finally {
        await rm(a, { recursive: true, force: true });
        await rm(b, { recursive: true, force: true });
      }
    }),
    { numRuns: 40 },
  );
});
