import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { rowsFromCsv, type RowsFromCsvOptions } from '../transforms/rows-from-csv.ts';
import { ArkBatchError } from '../lib/errors.ts';
import type { Row } from '../lib/sources/row.ts';

async function collect(chunks: readonly (Buffer | string)[], opts: RowsFromCsvOptions = {}): Promise<Row[]> {
  const rows: Row[] = [];
  await pipeline(
    Readable.from(chunks.map((c) => Buffer.from(c))),
    rowsFromCsv(opts),
    new Writable({
      objectMode: true,
      write(row: Row, _enc, cb) {
        rows.push(row);
        cb();
      },
    }),
  );
  return rows;
}

async function rejection(chunks: readonly (Buffer | string)[], opts: RowsFromCsvOptions = {}): Promise<ArkBatchError> {
  try {
    await collect(chunks, opts);
  } catch (err) {
    assert.ok(err instanceof ArkBatchError, String(err));
    return err;
  }
  assert.fail('expected the stream to fail');
}

test('a CSV file becomes rows that share one columns array, with data-row index and start line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ark-csv-'));
  try {
    const path = join(dir, 'in.csv');
    await writeFile(path, '\ufeffid,text\r\n1,"hello, ""world""\r\nagain"\r\n2,火山方舟\r\n');
    const rows: Row[] = [];
    await pipeline(createReadStream(path, { highWaterMark: 5 }), rowsFromCsv({ file: 'in.csv' }), async (source) => {
      for await (const row of source) rows.push(row as Row);
    });
    assert.deepEqual(
      rows.map(({ index, line, cells }) => ({ index, line, cells })),
      [
        { index: 1, line: 2, cells: ['1', 'hello, "world"\r\nagain'] },
        { index: 2, line: 4, cells: ['2', '火山方舟'] },
      ],
    );
    assert.deepEqual(rows[0].columns, ['id', 'text']);
    assert.equal(rows[0].columns, rows[1].columns);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('without a header, columns are named "1", "2", … and every record is a row', async () => {
  const rows = await collect(['a\tb\n', 'c\td\n'], { header: false, delimiter: '\t' });
  assert.deepEqual(rows[0].columns, ['1', '2']);
  assert.deepEqual(rows.map((r) => [r.index, r.cells]), [[1, ['a', 'b']], [2, ['c', 'd']]]);
});

test('a ragged row is emitted with E_ROW_INVALID and still counted', async () => {
  const rows = await collect(['a,b,c,d\n1,2,3,4\n1,2,3\n5,6,7,8\n'], { file: 'r.csv' });
  assert.deepEqual(rows.map((r) => r.index), [1, 2, 3]);
  assert.equal(rows[0].error, undefined);
  const err = rows[1].error;
  assert.ok(err);
  assert.equal(err.code, 'E_ROW_INVALID');
  assert.equal(err.detail, 'row has 3 fields, header has 4');
  assert.equal(err.line, 3);
  assert.equal(err.row, 2);
  assert.equal(err.file, 'r.csv');
  assert.deepEqual(rows[1].cells, ['1', '2', '3']);
});

test('a row with invalid UTF-8 is flagged E_ENCODING; its neighbours are not', async () => {
  const rows = await collect([Buffer.from('id,t\n1,ok\n2,b'), Buffer.from([0xe7, 0x81]), Buffer.from('\n3,中\n')]);
  assert.deepEqual(rows.map((r) => r.error?.code), [undefined, 'E_ENCODING', undefined]);
  assert.equal(rows[1].error?.line, 3);
  assert.equal(rows[2].cells?.[1], '中');
});

test('duplicate or empty header names fail the stream with E_CSV_PARSE', async () => {
  for (const input of ['a,b,a\n1,2,3\n', 'a,,c\n1,2,3\n']) {
    const err = await rejection([input], { file: 'h.csv' });
    assert.equal(err.code, 'E_CSV_PARSE');
    assert.equal(err.file, 'h.csv');
    assert.equal(err.line, 1);
  }
});

test('framing errors fail the stream with file and line, after the rows before them', async () => {
  const rows: Row[] = [];
  const stream = rowsFromCsv({ file: 'u.csv' });
  stream.on('data', (r: Row) => rows.push(r));
  const done = new Promise<unknown>((resolve) => stream.on('error', resolve));
  stream.end('a,b\n1,2\n3,"never closed\n4,5\n');
  const err = await done;
  assert.ok(err instanceof ArkBatchError);
  assert.equal(err.code, 'E_CSV_PARSE');
  assert.equal(err.line, 3);
  assert.match(err.message, /^u\.csv:3: E_CSV_PARSE/);
  assert.deepEqual(rows.map((r) => r.cells), [['1', '2']]);
  for (const input of ['a\nx"y\n', 'a\n"x"y\n']) assert.equal((await rejection([input])).code, 'E_CSV_PARSE');
});

test('a record over maxRecordBytes fails the stream with E_BUFFER_LIMIT', async () => {
  const err = await rejection(['a\n', '"' + 'x'.repeat(64), 'y'.repeat(64)], { maxRecordBytes: 100 });
  assert.equal(err.code, 'E_BUFFER_LIMIT');
});

test('a slow reader holds the parser back: buffered rows stay within highWaterMark plus one chunk', async () => {
  const chunk = Buffer.from('x,y\n'.repeat(25));
  const chunks = 2000;
  let produced = 0;
  const source = new Readable({
    read() {
      produced++;
      this.push(produced > chunks ? null : chunk);
    },
  });
  const stream = rowsFromCsv({ header: false, highWaterMark: 8 });
  source.pipe(stream);
  let whileWriting = 0;
  let overall = 0;
  let count = 0;
  for await (const _row of stream) {
    if (!stream.writableEnded) whileWriting = Math.max(whileWriting, stream.readableLength);
    overall = Math.max(overall, stream.readableLength);
    count++;
    if (count % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  assert.equal(count, chunks * 25);
  assert.ok(whileWriting <= 8 + 25, `buffered ${whileWriting} rows`);
  // Once the input has ended, Node's Transform drains its write buffer (writableHighWaterMark
  // bytes) without waiting for the reader; that is still a bound.
  const writeBufferRows = 25 * Math.ceil(stream.writableHighWaterMark / chunk.length);
  assert.ok(overall <= 8 + 25 + writeBufferRows, `buffered ${overall} rows`);
});

test('property: rows are independent of how the bytes are chunked', async () => {
  const cell = fc.string({ unit: fc.constantFrom('a', ',', '"', '\n', '\r', '中', '😀'), maxLength: 6 });
  const quote = (s: string): string => `"${s.replaceAll('"', '""')}"`;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(cell, cell), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat({ max: 200 }), { maxLength: 8 }),
      async (pairs, cuts) => {
        const buf = Buffer.from('h1,h2\n' + pairs.map(([a, b]) => `${quote(a)},${quote(b)}\n`).join(''));
        const points = [...new Set(cuts.map((c) => Math.min(c, buf.length)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((p, i, all) => buf.subarray(p, all[i + 1] ?? buf.length)).filter((c) => c.length);
        const rows = await collect(chunks);
        assert.deepEqual(rows.map((r) => r.cells), pairs);
      },
    ),
    { numRuns: 100 },
  );
});

test('destroying the stream mid-way closes it without an error', async () => {
  const stream = rowsFromCsv();
  const closed = new Promise<void>((resolve) => stream.on('close', resolve));
  stream.on('error', (err) => assert.fail(err));
  stream.write('a\n1\n');
  stream.destroy();
  await closed;
  assert.equal(stream.destroyed, true);
});
