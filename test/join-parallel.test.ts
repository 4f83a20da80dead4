import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import type { ArkBatchError } from '../lib/errors.ts';
import { joinToOutput } from '../lib/join/output.ts';
import { cutAtLines, lineText, RangeLineReader, readTextLines } from '../lib/join/line-files.ts';
import { resultLine, type FakeOutcome } from './helpers/results.ts';

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ark-join-par-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const lineArb = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => s.replaceAll('\n', ' ')), fc.constant(''), fc.constant('\r'), fc.constant('x\r'));

test('byte ranges cut at line ends read the same lines, numbered the same, as the whole file', async () => {
  await withDir(async (dir) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(lineArb, { maxLength: 30 }), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 9 }), async (lines, bom, trailing, pieces) => {
        const path = join(dir, `f-${run++}`);
        const text = (bom ? '\uFEFF' : '') + lines.join('\n') + (trailing ? '\n' : '');
        await writeFile(path, text);
        const whole: [number, string][] = [];
        for await (const l of readTextLines(Readable.from([Buffer.from(text)]), { maxLineBytes: 1 << 20 })) whole.push([l.line, l.text]);
        const size = (await stat(path)).size;
        const ranges = cutAtLines(path, size, pieces);
        assert.equal(ranges.reduce((n, r) => n + r.end - r.start, 0), size);
        const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
        const parts: [number, string][] = [];
        let base = 0;
        for (const range of ranges) {
          const reader = new RangeLineReader(path, range, { bufferBytes: 4, maxLineBytes: 1 << 20 });
          for (let b = reader.next(); b !== null; b = reader.next()) {
            const t = lineText(b, reader.line, range.start === 0 && reader.line === 1, decoder, path);
            if (t !== null) parts.push([base + reader.line, t]);
          }
          reader.close();
          base += reader.line;
        }
        assert.deepEqual(parts, whole);
      }),
      { numRuns: 200 },
    );
  });
});

/** A source, two results files and an errors file with duplicates, retries and orphans. */
async function writeCase(dir: string): Promise<{ source: string; results: string[]; errors: string[] }> {
  const n = 400;
  const src = ['id,text'];
  const r1: FakeOutcome[] = [];
  const r2: FakeOutcome[] = [];
  const e1: FakeOutcome[] = [];
  for (let i = 1; i <= n; i++) {
    src.push(`d${i},"row ${i}, 质量 ""q"" 🎉\nsecond"`);
    if (i % 11 === 0) continue;
    if (i % 5 === 0) e1.push({ id: `d${i}`, kind: i % 2 ? 'http' : 'error' });
    else if (i % 7 === 0) r1.push({ id: `d${i}`, kind: 'http' });
    else r1.push({ id: `d${i}`, kind: 'ok', content: `答案 ${i} ${'x'.repeat(i % 50)}` });
    if (i % 3 === 0) r2.push({ id: `d${i}`, kind: 'ok', content: `retry ${i}` });
    if (i % 13 === 0) r1.push({ id: `d${i}`, kind: 'ok', content: `dup ${i}` });
  }
  for (let i = 0; i < 30; i++) (i % 2 ? r2 : r1).push({ id: `ghost-${i % 20}`, kind: i % 3 ? 'ok' : 'error' });
  // Completion order, not input order.
  const shuffle = <T>(a: T[]) => a.map((v, i) => [(i * 7919) % 1009, v] as const).sort((x, y) => x[0] - y[0]).map((x) => x[1]);
  await writeFile(join(dir, 'src.csv'), src.join('\n') + '\n');
  await writeFile(join(dir, 'r1.jsonl'), shuffle(r1).map((o) => resultLine(o)).join('\n') + '\n\n');
  await writeFile(join(dir, 'r2.jsonl'), '\n' + shuffle(r2).map((o) => resultLine(o)).join('\r\n'));
  await writeFile(join(dir, 'e1.jsonl'), shuffle(e1).map((o) => resultLine(o)).join('\n') + '\n');
  return { source: join(dir, 'src.csv'), results: [join(dir, 'r1.jsonl'), join(dir, 'r2.jsonl')], errors: [join(dir, 'e1.jsonl')] };
}

test('results parsed by worker threads in many ranges join to the same bytes, orphans and counts as on one thread', async () => {
  await withDir(async (dir) => {
    const files = await writeCase(dir);
    const runs: { out: Buffer; orphans: unknown[]; summary: Record<string, unknown> }[] = [];
    const configs = [
      { tag: 'memory' },
      { tag: 'thread', memoryBytes: 1, workers: 0, spillRangeBytes: 1500 },
      { tag: 'workers', memoryBytes: 1, workers: 2, spillRangeBytes: 1500 },
      { tag: 'one-range', memoryBytes: 1, workers: 1 },
    ];
    for (const { tag, ...extra } of configs) {
      const output = join(dir, `out-${tag}.csv`);
      const orphansPath = join(dir, `orphans-${tag}.jsonl`);
      const s = await joinToOutput({ ...files, id: { column: 'id' }, output, orphansPath, ...extra });
      const orphans = (await readFile(orphansPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      const { output: _o, orphansFile: _f, partitions, ...summary } = s;
      assert.equal(partitions > 0, tag !== 'memory', tag);
      runs.push({ out: await readFile(output), orphans, summary });
    }
    const sortById = (a: unknown[]) => [...a].sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
    for (const r of runs.slice(1)) {
      assert.ok(r.out.equals(runs[0]!.out));
      assert.deepEqual(r.summary, runs[0]!.summary);
      // Same orphans with the same file and line; only their order follows the partitions.
      assert.deepEqual(sortById(r.orphans), sortById(runs[0]!.orphans));
    }
    // Worker or not, the spilled runs write the orphans in the same order.
    assert.deepEqual(runs[2]!.orphans, runs[1]!.orphans);
    assert.equal(runs[0]!.summary.orphans, 20);
    assert.ok((runs[0]!.summary.duplicates as number) > 100);
  });
});

test('a bad line in a later range fails the join with its line in the file, and the first bad line in input order wins', async () => {
  await withDir(async (dir) => {
    const lines = Array.from({ length: 200 }, (_, i) => resultLine({ id: `x${i}`, kind: 'ok' }));
    await writeFile(join(dir, 's.csv'), 'id\nx1\n');
    const bad = [...lines];
    bad[150] = '{"custom_id": 1}';
    bad[180] = 'not json';
    await writeFile(join(dir, 'r.jsonl'), bad.join('\n') + '\n');
    await writeFile(join(dir, 'r0.jsonl'), lines.slice(0, 100).join('\n') + '\n');
    for (const workers of [0, 2]) {
      await assert.rejects(
        joinToOutput({ source: join(dir, 's.csv'), results: [join(dir, 'r0.jsonl'), join(dir, 'r.jsonl')], id: { column: 'id' }, output: join(dir, 'o.csv'), memoryBytes: 1, workers, spillRangeBytes: 2000 }),
        (e: ArkBatchError) => e.code === 'E_JOIN_MISSING_ID' && e.line === 151 && e.file === join(dir, 'r.jsonl') && e.message.includes(':151:'),
      );
    }
    // A broken source is reported only when the results are fine.
    await writeFile(join(dir, 'bad.csv'), 'id\n"x1\n');
    await assert.rejects(
      joinToOutput({ source: join(dir, 'bad.csv'), results: [join(dir, 'r.jsonl')], id: { column: 'id' }, output: join(dir, 'o.csv'), memoryBytes: 1, workers: 2, spillRangeBytes: 2000 }),
      (e: ArkBatchError) => e.code === 'E_JOIN_MISSING_ID',
    );
    await assert.rejects(
      joinToOutput({ source: join(dir, 'bad.csv'), results: [join(dir, 'r0.jsonl')], id: { column: 'id' }, output: join(dir, 'o.csv'), memoryBytes: 1, workers: 2, spillRangeBytes: 2000 }),
      (e: ArkBatchError) => e.code === 'E_CSV_PARSE',
    );
    assert.deepEqual((await readdir(dir)).sort(), ['bad.csv', 'r.jsonl', 'r0.jsonl', 's.csv']);
  });
});

test('a worker-spilled join leaves no spill files behind, finished or destroyed early', async () => {
  await withDir(async (dir) => {
    const files = await writeCase(dir);
    const spill = join(dir, 'spill');
    await mkdir(spill);
    const { joinResults } = await import('../lib/join/join.ts');
    const rows = joinResults({ ...files, id: { column: 'id' }, memoryBytes: 1, workers: 2, spillRangeBytes: 1500, tmpDir: spill });
    for await (const row of rows) {
      assert.equal((row as Record<string, unknown>).id, 'd1');
      break;
    }
    rows.on('error', () => {});
    if (!rows.closed) await new Promise((resolve) => rows.once('close', resolve));
    assert.deepEqual(await readdir(spill), []);
  });
});

const cellArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.string({ unit: fc.constantFrom('a', '"', ',', '\t', '\n', '\r', ';', '|', ' ', '-', ']', '^', '\\', 'é', '质'), maxLength: 8 }),
  fc.constantFrom('', ' ', '"', ',', '\t', '\n', '\r\n', 'a"b', '=1+2', '-3', '\uFEFFx', '0'),
  fc.double(),
  fc.integer(),
  fc.bigInt(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date(),
  fc.jsonValue(),
  fc.constant(Buffer.from('héllo')),
  fc.constant(new Uint8Array([1, 2, 3])),
  fc.constant({ toJSON: () => undefined }),
);

test('our CSV writer writes exactly what csv-stringify writes, for every kind of cell, delimiter and header', async () => {
  const { encodeCsvBatch, stringifyCsvBatch } = await import('../lib/join/csv-batch.ts');
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.string({ unit: fc.constantFrom('a', 'b', '"', ',', '\n', ' ', '质'), minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }).chain((cols) =>
        fc.record({ cols: fc.constant(cols), rows: fc.array(fc.array(cellArb, { minLength: cols.length, maxLength: cols.length }), { maxLength: 20 }) }),
      ),
      fc.constantFrom(',', '\t', ';', '|', ' ', 'a', '-', ']', '^', '\\', '质', '::', ''),
      fc.boolean(),
      ({ cols, rows }, delimiter, header) => {
        const batch = { rows, columns: cols, header, delimiter };
        let expected: string | Error;
        try {
          expected = stringifyCsvBatch(batch);
        } catch (err) {
          expected = err as Error;
        }
        if (expected instanceof Error) assert.throws(() => encodeCsvBatch(batch));
        else assert.equal(encodeCsvBatch(batch), expected);
      },
    ),
    { numRuns: 2000 },
  );
  // Values csv-stringify refuses are refused alike.
  const odd = { rows: [[Symbol('s')]], columns: ['a'], header: true, delimiter: ',' };
  assert.throws(() => stringifyCsvBatch(odd));
  assert.throws(() => encodeCsvBatch(odd));
});

test('a spilled join lists ids from latin1 cells that match the text ids: non-ASCII columns and templates, CSV and TSV', async () => {
  await withDir(async (dir) => {
    const keys = ['质量', 'é', 'plain', '🎉x', 'a"b'];
    for (const [ext, sep] of [['csv', ','], ['tsv', '\t']] as const) {
      const cell = (s: string) => (/[",]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
      await writeFile(join(dir, `s.${ext}`), `名字${sep}v\n` + keys.map((k, i) => `${cell(k)}${sep}${i}`).join('\n') + '\n');
      for (const id of [{ column: '名字' }, { template: '文档-{{名字}}-{{v}}' }]) {
        const make = (k: string, i: number) => ('column' in id ? k : `文档-${k}-${i}`);
        await writeFile(join(dir, 'r.jsonl'), keys.map((k, i) => resultLine({ id: make(k, i), kind: 'ok', content: `c${i}` })).join('\n') + '\n');
        const outs: string[] = [];
        for (const extra of [{}, { memoryBytes: 1, workers: 0 }]) {
          const output = join(dir, `o-${outs.length}.jsonl`);
          const s = await joinToOutput({ source: join(dir, `s.${ext}`), results: [join(dir, 'r.jsonl')], id, output, ...extra });
          assert.equal(s.ok, keys.length, JSON.stringify([ext, id, extra]));
          outs.push(await readFile(output, 'utf8'));
        }
        assert.equal(outs[1], outs[0]);
      }
    }
  });
});
