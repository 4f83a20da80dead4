import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import fc from 'fast-check';
import { ArkBatchError } from '../lib/errors.ts';
import { joinResults, joinResultsToCsv, type JoinOptions } from '../lib/join/join.ts';
import { LineAppender, LineFileReader } from '../lib/join/line-files.ts';
import type { MatchPartitionTask } from '../lib/join/match-partition.ts';
import { idLine, idOfLine } from '../lib/join/spill-tasks.ts';
import { createWorkerPool } from '../lib/join/worker-pool.ts';
import { TAIL_ERROR, TAIL_MISSING, TAIL_OK, TailAppender, TailReader, type TailStatus } from '../lib/join/tail-files.ts';
import { joinedToCsv } from '../transforms/joined-to-csv.ts';
import { resultLine, type FakeOutcome } from './helpers/results.ts';
import { withTmpDir } from './helpers/tmp.ts';

const withDir = <T>(fn: (dir: string) => Promise<T>): Promise<T> => withTmpDir('ark-join-csv-test-', fn);

async function bytesOf(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of stream) parts.push(Buffer.isBuffer(b) ? b : Buffer.from(b as string));
  return Buffer.concat(parts);
}

/** The reference: joinResults' row objects through joinedToCsv, as every join wrote CSV before. */
async function viaObjects(options: JoinOptions, delimiter: string) {
  const orphansPath = `${options.source}.objects-orphans.jsonl`;
  const rows = joinResults({ ...options, orphansPath });
  const bytes = await bytesOf(pipeline(rows, joinedToCsv({ delimiter }), () => {}) as unknown as Readable);
  return { bytes, summary: { ...rows.summary(), orphansFile: undefined }, orphans: await readFile(orphansPath, 'utf8') };
}

async function viaCsvPass(options: JoinOptions, delimiter: string) {
  const orphansPath = `${options.source}.csv-orphans.jsonl`;
  const rows = joinResultsToCsv({ ...options, outputDelimiter: delimiter, orphansPath });
  const bytes = await bytesOf(rows);
  return { bytes, summary: { ...rows.summary(), orphansFile: undefined }, orphans: await readFile(orphansPath, 'utf8') };
}

/** A CSV cell as a writer would quote it (sometimes quoted when it need not be). */
function quote(cell: string, d: string, always: boolean): string {
  return always || cell.includes('"') || cell.includes(d) || /[\r\n]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell;
}

const cellArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', 'a,b', 'say "hi"', 'two\nlines', 'crlf\r\nx', '质量 🎉', '\t', '12', 'x'.repeat(300)),
);

const sourceArb = fc.record({
  // Names that look like array indexes come first in row objects, so the header order changes.
  extraNames: fc.uniqueArray(fc.constantFrom('2', '10', '0', 'b', 'é', 'col 3', '_4'), { maxLength: 3 }),
  rows: fc.array(
    fc.record({
      id: fc.oneof(fc.constantFrom('a', 'b', 'c', 'd', 'é', '', 'x,y', '"q"'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 })),
      cells: fc.array(cellArb, { minLength: 3, maxLength: 3 }),
      // Ragged rows (too many or too few fields) and invalid UTF-8 are rows with an error.
      shape: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'long', 'short', 'badUtf8'),
      quoted: fc.boolean(),
    }),
    { maxLength: 30 },
  ),
  outcomes: fc.array(
    fc.record({
      id: fc.oneof(fc.constantFrom('a', 'b', 'c', 'd', 'é', 'x,y', '"q"', 'nobody'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 })),
      kind: fc.constantFrom('ok', 'error', 'http') as fc.Arbitrary<FakeOutcome['kind']>,
      content: fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('a "b", c\nd', '\ud800 lone', '')),
    }),
    { maxLength: 40 },
  ),
  tsv: fc.boolean(),
  outTsv: fc.boolean(),
  idRule: fc.constantFrom<JoinOptions['id']>({ column: 'id' }, {}, { template: 'k-{id}-{v0}' }),
  raw: fc.boolean(),
  crlf: fc.boolean(),
  rangeBytes: fc.integer({ min: 1, max: 200 }),
  bom: fc.boolean(),
  split: fc.nat({ max: 40 }),
});

test('a spilled CSV join writes the bytes and summary the row objects give through joinedToCsv', async () => {
  await withDir(async (dir) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(sourceArb, async (c) => {
        run++;
        const d = c.tsv ? '\t' : ',';
        const names = ['id', 'v0', ...c.extraNames];
        const eol = c.crlf ? '\r\n' : '\n';
        const lines: Buffer[] = [Buffer.from(names.join(d) + eol)];
        for (const r of c.rows) {
          let cells = [r.id, ...r.cells].slice(0, names.length);
          while (cells.length < names.length) cells.push('v');
          if (r.shape === 'long') cells = [...cells, 'extra'];
          if (r.shape === 'short') cells = cells.slice(0, 1);
          let line = Buffer.from(cells.map((x) => quote(x, d, r.quoted)).join(d) + eol);
          if (r.shape === 'badUtf8') line = Buffer.concat([Buffer.from([0xe2, 0x82]), line]);
          lines.push(line);
        }
        const source = join(dir, `src-${run}.${c.tsv ? 'tsv' : 'csv'}`);
        await writeFile(source, Buffer.concat(lines));
        const results = join(dir, `r-${run}.jsonl`);
        // A BOM on the first line, and lines split over a results and an errors file.
        const resultLines = c.outcomes.map((o) => resultLine(o) + '\n');
        await writeFile(results, (c.bom ? '\ufeff' : '') + resultLines.slice(0, c.split).join(''));
        const errors = join(dir, `e-${run}.jsonl`);
        await writeFile(errors, resultLines.slice(c.split).join(''));
        // Worker threads take a while to start: one run in ten joins ranges of the source on them.
        const ranges = run % 10 === 0 ? { workers: 1, joinRangeBytes: c.rangeBytes } : { workers: 0 };
        const options: JoinOptions = { source, results: [results], errors: [errors], id: c.idRule, raw: c.raw, memoryBytes: 1, partitions: 3, spillRangeBytes: 3 * c.rangeBytes, ...ranges };
        const outD = c.outTsv ? '\t' : ',';
        let expected: Awaited<ReturnType<typeof viaObjects>> | ArkBatchError;
        try {
          expected = await viaObjects(options, outD);
        } catch (err) {
          expected = err as ArkBatchError;
        }
        if (expected instanceof Error) {
          await assert.rejects(viaCsvPass(options, outD), (e: ArkBatchError) => e.code === (expected as ArkBatchError).code);
          return;
        }
        const got = await viaCsvPass(options, outD);
        assert.equal(got.bytes.toString('latin1'), expected.bytes.toString('latin1'));
        assert.deepEqual(got.summary, expected.summary);
        assert.equal(got.orphans, expected.orphans);
        assert.equal(got.summary.partitions, c.outcomes.length > 0 ? 3 : got.summary.partitions);
      }),
      { numRuns: 150 },
    );
  });
});

test('a result prefix renames the result columns of a spilled CSV join only in the header', async () => {
  await withDir(async (dir) => {
    const source = join(dir, 'src.csv');
    await writeFile(source, 'id,status\na,x\nb,y\n');
    const results = join(dir, 'r.jsonl');
    await writeFile(results, [resultLine({ id: 'b', kind: 'ok', content: 'B' }), resultLine({ id: 'a', kind: 'http' })].join('\n') + '\n');
    const options: JoinOptions = { source, results: [results], id: { column: 'id' }, resultPrefix: 'r_', memoryBytes: 1, workers: 0 };
    const got = await viaCsvPass(options, ',');
    assert.equal(got.bytes.toString(), (await viaObjects(options, ',')).bytes.toString());
    assert.match(got.bytes.toString(), /^id,status,r_status,r_content,/);
    assert.deepEqual([got.summary.ok, got.summary.error], [1, 1]);
  });
});

test('tail records read back in order, from the start or from a record offset, whatever their size', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'tails');
    const records: [TailStatus, string, string][] = [
      [TAIL_OK, 'a', 'ok,"two\nlines",3'],
      [TAIL_MISSING, '', ''],
      [TAIL_ERROR, '质量', 'error,,,"x"'],
      [TAIL_OK, 'big', 'y'.repeat(100_000) + '🎉'],
      [TAIL_MISSING, '', ''],
    ];
    const out = new TailAppender(path, 64);
    const offsets: number[] = [];
    for (const [status, id, tail] of records) {
      offsets.push(out.bytes);
      out.push(status, id, tail);
    }
    out.close();
    for (let from = 0; from < records.length; from++) {
      const reader = new TailReader(path, { bufferBytes: 16, maxRecordBytes: 1 << 20, start: offsets[from] });
      const seen: [TailStatus, string, string][] = [];
      while (reader.next()) seen.push([reader.status, Buffer.from(reader.id, 'latin1').toString(), Buffer.from(reader.tail, 'latin1').toString()]);
      reader.close();
      assert.deepEqual(seen, records.slice(from));
    }
  });
});

test('a tail record over the limit or cut short fails with a code instead of reading on', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'tails');
    const out = new TailAppender(path, 1024);
    out.push(TAIL_OK, 'a', 'z'.repeat(500));
    out.close();
    const big = new TailReader(path, { bufferBytes: 64, maxRecordBytes: 100 });
    assert.throws(() => big.next(), (e: ArkBatchError) => e.code === 'E_BUFFER_LIMIT');
    big.close();
    const cut = join(dir, 'cut');
    await writeFile(cut, Buffer.from([TAIL_OK, 5, 0, 0, 0, 9, 0, 0, 0, 0x61]));
    const short = new TailReader(cut, { bufferBytes: 64, maxRecordBytes: 100 });
    assert.throws(() => short.next(), (e: ArkBatchError) => e.code === 'E_INTEGRITY');
    short.close();
  });
});

test('an id written to an ids file reads back as the same id, lone surrogates, quotes and line breaks included', async () => {
  await withDir(async (dir) => {
    let run = 0;
    const units = fc.array(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0x22, 0x0a, 0x0d, 0xd83c, 0xdf89, 0x5c)), { maxLength: 12 });
    fc.assert(
      fc.property(fc.array(units.map((u) => String.fromCharCode(...u)), { minLength: 1, maxLength: 20 }), (ids) => {
        const path = join(dir, `ids-${run++}`);
        const out = new LineAppender(path, 64);
        for (const id of ids) out.push(idLine(id));
        out.close();
        const back = new LineFileReader(path, 16, 1 << 20);
        const seen: string[] = [];
        for (let text = back.next(); text !== null; text = back.next()) seen.push(idOfLine(text));
        back.close();
        assert.deepEqual(seen, ids);
      }),
      { numRuns: 200 },
    );
  });
});

test('a task run hands each outcome to whoever waits for it, as soon as it is done, and fails the waiters when closed', async () => {
  const pool = createWorkerPool({ workers: 0 });
  // Match tasks over a missing directory: each fails alone, with E_IO, as its outcome.
  const tasks: MatchPartitionTask[] = [0, 1].map((partition) => ({ kind: 'match', dir: join(tmpdir(), 'ark-no-such-dir'), partition, lineBases: [], limitBytes: 1, maxLineBytes: 10 }));
  const run = pool.start(tasks);
  const second = run.done(1);
  assert.equal(run.outcome(0), undefined);
  assert.equal(await run.helpOnce(), true);
  const first = run.outcome(0);
  assert.ok(first && !first.ok && (first.error as ArkBatchError).code === 'E_IO');
  assert.equal(await run.helpOnce(), true);
  assert.equal((await second).ok, false);
  assert.equal(await run.helpOnce(), false);
  assert.equal((await run.settled).length, 2);
  const waiting = pool.start(tasks).done(0);
  await pool.close();
  await assert.rejects(waiting, (e: ArkBatchError) => e.code === 'E_ABORTED');
});

test('a join from a CSV file into CSV takes the spilled byte path past csvBytePathFromBytes, whatever the budget, with the same bytes', async () => {
  await withDir(async (dir) => {
    const source = join(dir, 'src.csv');
    const ids = Array.from({ length: 200 }, (_, i) => `id${i}`);
    await writeFile(source, `id,text\n${ids.map((id, i) => `${id},"row ${i}, ""quoted"""`).join('\n')}\n`);
    const results = join(dir, 'r.jsonl');
    const lines = ids.filter((_, i) => i % 7 !== 0).reverse().map((id, i) => resultLine({ id, kind: i % 5 === 0 ? 'http' : 'ok', content: `answer ${i}` }));
    await writeFile(results, `${lines.join('\n')}\n`);
    const options: JoinOptions = { source, results: [results], id: { column: 'id' }, memoryBytes: 1 << 30, workers: 0 };
    const inMemory = await viaCsvPass({ ...options, csvBytePathFromBytes: Number.MAX_SAFE_INTEGER }, ',');
    const bytePath = await viaCsvPass({ ...options, csvBytePathFromBytes: 1 }, ',');
    assert.equal(inMemory.summary.partitions, 0);
    assert.ok(bytePath.summary.partitions > 0, 'spilled');
    assert.deepEqual(bytePath.bytes, inMemory.bytes);
    assert.deepEqual({ ...bytePath.summary, partitions: 0 }, inMemory.summary);
    assert.equal(bytePath.orphans, inMemory.orphans);
  });
});
