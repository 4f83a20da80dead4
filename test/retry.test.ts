import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { buildRetry } from '../lib/join/retry.ts';
import { resultLine, type FakeOutcome } from './helpers/results.ts';

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ark-retry-test-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const batchLine = (id: string, text: string) => JSON.stringify({ custom_id: id, body: { messages: [{ role: 'user', content: text }] } });

test('retry keeps exactly the failed and missing request lines, byte for byte, in memory and spilled', async () => {
  await withDir(async (dir) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 20 }).chain((ids) =>
          fc.record({
            ids: fc.constant(ids),
            texts: fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { minLength: ids.length, maxLength: ids.length }),
            outcomes: fc.array(
              fc.record({
                id: fc.oneof(fc.constantFrom(...ids), fc.constant('orphan')),
                kind: fc.constantFrom('ok', 'error', 'http') as fc.Arbitrary<'ok' | 'error' | 'http'>,
                code: fc.constantFrom('RateLimitExceeded', 'InvalidParameter'),
              }),
              { maxLength: 30 },
            ),
            onlyRate: fc.boolean(),
            includeMissing: fc.boolean(),
          }),
        ),
        async ({ ids, texts, outcomes, onlyRate, includeMissing }) => {
          run++;
          const lines = ids.map((id, i) => batchLine(id, texts[i]!));
          const batch = join(dir, `b-${run}.jsonl`);
          await writeFile(batch, lines.join('\n') + '\n');
          const results = join(dir, `r-${run}.jsonl`);
          await writeFile(results, outcomes.map((o: FakeOutcome) => resultLine(o) + '\n').join(''));
          const final = new Map<string, FakeOutcome>();
          for (const o of outcomes) if (final.get(o.id)?.kind !== 'ok') final.set(o.id, o);
          const expected = lines.filter((_, i) => {
            const o = final.get(ids[i]!);
            if (!o) return includeMissing;
            if (o.kind === 'ok') return false;
            return !onlyRate || o.code === 'RateLimitExceeded';
          });
          for (const memoryBytes of [undefined, 1]) {
            const output = join(dir, `out-${run}-${memoryBytes ?? 'mem'}.jsonl`);
            const s = await buildRetry({ batch, results: [results], output, memoryBytes, includeMissing, onlyCodes: onlyRate ? ['RateLimitExceeded'] : undefined });
            const text = await readFile(output, 'utf8');
            assert.equal(text, expected.map((l) => l + '\n').join(''));
            assert.equal(s.written, expected.length);
            assert.equal(s.requests, s.ok + s.failed + s.missing);
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});

test('retry reads the batch from stdin, also when the results spill', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'e.jsonl'), resultLine({ id: 'b', kind: 'http' }) + '\n' + resultLine({ id: 'a', kind: 'ok' }) + '\n');
    const batch = [batchLine('a', 'x'), batchLine('b', '中文 🙂'), batchLine('c', 'z')].join('\n') + '\n';
    for (const memoryBytes of [undefined, 1]) {
      const output = join(dir, 'retry.jsonl');
      await buildRetry({ batch: '-', stdin: Readable.from([Buffer.from(batch)]), results: [], errors: [join(dir, 'e.jsonl')], output, memoryBytes, tmpDir: dir });
      assert.equal(await readFile(output, 'utf8'), [batchLine('b', '中文 🙂'), batchLine('c', 'z')].join('\n') + '\n');
    }
    assert.deepEqual((await readdir(dir)).sort(), ['e.jsonl', 'retry.jsonl']);
  });
});

test('a batch line without custom_id fails retry with its line number', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'b.jsonl'), batchLine('a', 'x') + '\n{"body":{}}\n');
    await writeFile(join(dir, 'r.jsonl'), '');
    await assert.rejects(buildRetry({ batch: join(dir, 'b.jsonl'), results: [join(dir, 'r.jsonl')], output: join(dir, 'o.jsonl') }), (e: { code: string; line: number }) => e.code === 'E_JOIN_MISSING_ID' && e.line === 2);
    assert.deepEqual((await readdir(dir)).sort(), ['b.jsonl', 'r.jsonl']);
  });
});
