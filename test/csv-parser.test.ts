import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { parse as csvParseSync } from 'csv-parse/sync';
import { stringify as csvStringifySync } from 'csv-stringify/sync';
import fc from 'fast-check';
import { createCsvParser, CSV_PARSE_REFERENCE_OPTIONS, type CsvParserOptions } from '../lib/sources/csv-parser.ts';
import { ArkBatchError } from '../lib/errors.ts';
import { createLineBatcher } from '../lib/jsonl/line-batch.ts';
import { createCsvRenderer } from '../lib/wasm/csv-render.ts';

interface Rec {
  cells: string[];
  line: number;
  invalidUtf8?: true;
}

/** Parses the chunks in order; returns the records, or the thrown error after the records before it. */
function parseChunks(chunks: readonly Uint8Array[], opts: CsvParserOptions = {}): { records: Rec[]; error?: unknown } {
  const records: Rec[] = [];
  const onRecord = (cells: string[], line: number, invalidUtf8: boolean): void => {
    records.push(invalidUtf8 ? { cells, line, invalidUtf8: true } : { cells, line });
  };
  try {
    const parser = createCsvParser(opts);
    for (const chunk of chunks) parser.push(chunk, onRecord);
    parser.end(onRecord);
  } catch (error) {
    return { records, error };
  }
  return { records };
}

function parseAll(input: Uint8Array | string, opts: CsvParserOptions = {}): Rec[] {
  const { records, error } = parseChunks([typeof input === 'string' ? Buffer.from(input) : input], opts);
  if (error) throw error;
  return records;
}

function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const sorted = [...new Set(cuts.map((c) => Math.min(c, buf.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of sorted) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  out.push(buf.subarray(prev));
  return out;
}

const FIXTURES = new URL('./fixtures/csv/', import.meta.url);

test('golden fixtures parse to their expected records and errors, whole and byte by byte', () => {
  const inputs = readdirSync(FIXTURES).filter((f) => /\.(csv|tsv)$/.test(f));
  assert.ok(inputs.length >= 14);
  for (const name of inputs) {
    const input = readFileSync(new URL(name, FIXTURES));
    const expected = readFileSync(new URL(name.replace(/\.(csv|tsv)$/, '.expected.jsonl'), FIXTURES), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const opts = { delimiter: name.endsWith('.tsv') ? '\t' : ',', file: name };
    const bytewise = [...input].map((b) => Buffer.from([b]));
    for (const chunks of [[input], bytewise]) {
      const { records, error } = parseChunks(chunks, opts);
      if (expected[0].error) {
        assert.ok(error instanceof ArkBatchError, `${name}: expected an error`);
        assert.equal(error.code, expected[0].error.code, name);
        assert.equal(error.line, expected[0].error.line, name);
        assert.equal(error.file, name);
        assert.match(error.message, new RegExp(`^${name}:${expected[0].error.line}: `));
      } else {
        assert.equal(error, undefined, `${name}: ${String(error)}`);
        assert.deepEqual(records, expected, name);
      }
    }
  }
});

test('an unclosed quote names the line where the field started, not the last line', () => {
  assert.throws(
    () => parseAll('a\n"x\n\n\n\n'),
    (e: unknown) => e instanceof ArkBatchError && e.code === 'E_CSV_PARSE' && e.line === 2 && /line 2/.test(e.detail),
  );
});

test('a 10 MB field passes with the default bound, whole or in 64 KiB chunks', () => {
  const big = 'x'.repeat(5_000_000) + '中'.repeat(1_000_000) + '"'.repeat(10);
  // The rows after it make the parser give back the room the big record needed.
  const input = Buffer.from(`id,text\n1,"${big.replaceAll('"', '""')}"\n2,b\n${'3,cc\n'.repeat(50_000)}`);
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += 65536) chunks.push(input.subarray(i, i + 65536));
  for (const parts of [[input], chunks]) {
    const { records, error } = parseChunks(parts);
    assert.equal(error, undefined);
    assert.equal(records.length, 50_003);
    assert.deepEqual(records[50_002], { cells: ['3', 'cc'], line: 50_003 });
    assert.ok(records.slice(3).every((r, i) => r.cells.join('|') === '3|cc' && r.line === i + 4));
    assert.equal(records[1].cells[1].length, big.length);
    assert.ok(records[1].cells[1] === big);
    assert.deepEqual(records[2], { cells: ['2', 'b'], line: 3 });
  }
});

test('a record larger than maxRecordBytes fails with E_BUFFER_LIMIT, complete or not', () => {
  for (const input of ['a,b\n1,"' + 'y'.repeat(200) + '"\n', 'a,b\n1,"' + 'y'.repeat(200)]) {
    for (const chunk of [1000, 7]) {
      const buf = Buffer.from(input);
      const chunks = splitAt(buf, Array.from({ length: Math.ceil(buf.length / chunk) }, (_, i) => i * chunk));
      const { records, error } = parseChunks(chunks, { maxRecordBytes: 100, file: 'big.csv' });
      assert.ok(error instanceof ArkBatchError);
      assert.equal(error.code, 'E_BUFFER_LIMIT');
      assert.equal(error.line, 2);
      assert.deepEqual(records.map((r) => r.cells), [['a', 'b']]);
    }
  }
  assert.equal(parseAll('1,' + 'z'.repeat(98), { maxRecordBytes: 100 }).length, 1);
});

test('a delimiter that is not one byte, or is a quote or newline, is a usage error', () => {
  for (const delimiter of ['', ';;', '中', '"', '\n', '\r']) {
    assert.throws(() => createCsvParser({ delimiter }), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_USAGE');
  }
});

test('records report absolute byte offsets and honour startLine for mid-file starts', () => {
  const offsets: number[] = [];
  const lines: number[] = [];
  const parser = createCsvParser({ startOffset: 1000, startLine: 40, bom: false });
  const input = Buffer.from('a,"x\ny"\nb,c\n');
  for (const part of splitAt(input, [3, 9])) parser.push(part, (_c, line, _bad, off) => (offsets.push(off), lines.push(line)));
  parser.end(() => assert.fail('no record is left'));
  assert.deepEqual(offsets, [1000, 1008]);
  assert.deepEqual(lines, [40, 42]);
});

// ---- properties --------------------------------------------------------------------------

const DELIMITERS = [',', ';', '\t', '|'] as const;
const NEWLINES = ['\n', '\r\n', '\r'] as const;

/** Cells full of the characters that matter: delimiters, quotes, CR/LF, CJK, emoji (surrogate pairs). */
const cellArb = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', 'b', ' ', ',', ';', '\t', '|', '"', '\r', '\n', 'é', '中', '😀', '\u{1F44D}\u{1F3FD}'), maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }).filter((s) => Buffer.from(s).toString() === s),
  fc.constant(''),
);

interface Dialect {
  delimiter: (typeof DELIMITERS)[number];
  newline: (typeof NEWLINES)[number];
  finalNewline: boolean;
  bom: boolean;
}

const dialectArb: fc.Arbitrary<Dialect> = fc.record({
  delimiter: fc.constantFrom(...DELIMITERS),
  newline: fc.constantFrom(...NEWLINES),
  finalNewline: fc.boolean(),
  bom: fc.boolean(),
});

const tableArb = fc.array(fc.array(fc.record({ value: cellArb, forceQuote: fc.boolean() }), { minLength: 1, maxLength: 5 }), {
  minLength: 1,
  maxLength: 8,
});

/** Writes a table by hand so that quoting is random where allowed; returns the text and each row's first line. */
function writeCsv(rows: { value: string; forceQuote: boolean }[][], d: Dialect): { text: string; expected: Rec[] } {
  let text = d.bom ? '\ufeff' : '';
  let line = 1;
  const expected: Rec[] = [];
  rows.forEach((row, r) => {
    const cells = row.map(({ value, forceQuote }) =>
      forceQuote || /["\r\n]/.test(value) || value.includes(d.delimiter) ? `"${value.replaceAll('"', '""')}"` : value,
    );
    const out = cells.join(d.delimiter);
    // A row that writes as nothing is an empty line, which is skipped.
    if (out !== '') expected.push({ cells: row.map((c) => c.value), line });
    text += out;
    if (r < rows.length - 1 || d.finalNewline) text += d.newline;
    line += 1 + (out.match(/\r\n|\r|\n/g)?.length ?? 0);
  });
  return { text, expected };
}

function cutsArb(maxLen: number): fc.Arbitrary<number[]> {
  return fc.array(fc.nat({ max: Math.max(0, maxLen) }), { maxLength: 12 });
}

test('property: random dialects parse like csv-parse, with the right start lines', () => {
  fc.assert(
    fc.property(tableArb, dialectArb, (rows, d) => {
      const { text, expected } = writeCsv(rows, d);
      const ours = parseAll(text, { delimiter: d.delimiter });
      const reference: string[][] = csvParseSync(Buffer.from(text), { ...CSV_PARSE_REFERENCE_OPTIONS, delimiter: d.delimiter });
      assert.deepEqual(ours.map((r) => r.cells), reference);
      assert.deepEqual(ours, expected);
    }),
    { numRuns: 300 },
  );
});

test('property: output is independent of chunk boundaries (incl. split UTF-8 and CR|LF)', () => {
  const arb = fc
    .tuple(tableArb, dialectArb)
    .map(([rows, d]) => ({ d, buf: Buffer.from(writeCsv(rows, d).text) }))
    .chain(({ d, buf }) => fc.record({ d: fc.constant(d), buf: fc.constant(buf), cuts: cutsArb(buf.length) }));
  fc.assert(
    fc.property(arb, ({ d, buf, cuts }) => {
      const whole = parseChunks([buf], { delimiter: d.delimiter });
      const split = parseChunks(splitAt(buf, cuts), { delimiter: d.delimiter });
      assert.deepEqual(split, whole);
    }),
    { numRuns: 300 },
  );
});

test('property: dirty inputs fail exactly when csv-parse fails, and agree otherwise, in any chunking', () => {
  const arb = fc
    .record({
      tokens: fc.array(fc.constantFrom('a', 'é', ' ', ',', '"', '""', 'NL', '中'), { maxLength: 30 }),
      crlf: fc.boolean(),
    })
    .map(({ tokens, crlf }) => Buffer.from(tokens.map((t) => (t === 'NL' ? (crlf ? '\r\n' : '\n') : t)).join('')))
    .chain((buf) => fc.record({ buf: fc.constant(buf), cuts: cutsArb(buf.length) }));
  fc.assert(
    fc.property(arb, ({ buf, cuts }) => {
      let reference: string[][] | undefined;
      try {
        reference = csvParseSync(buf, CSV_PARSE_REFERENCE_OPTIONS);
      } catch {
        reference = undefined;
      }
      const whole = parseChunks([buf]);
      if (reference === undefined) assert.ok(whole.error instanceof ArkBatchError && whole.error.code === 'E_CSV_PARSE', `should fail: ${JSON.stringify(buf.toString())}`);
      else {
        assert.equal(whole.error, undefined, `should pass: ${JSON.stringify(buf.toString())}`);
        assert.deepEqual(whole.records.map((r) => r.cells), reference);
      }
      assert.deepEqual(parseChunks(splitAt(buf, cuts)), whole);
    }),
    { numRuns: 500 },
  );
});

test('property: invalid UTF-8 flags exactly the records whose bytes are invalid', () => {
  const arb = fc
    .array(fc.tuple(fc.string({ unit: fc.constantFrom('a', '中', '"', ','), maxLength: 6 }), fc.uint8Array({ maxLength: 3 })), {
      minLength: 1,
      maxLength: 8,
    })
    .map((rows) =>
      rows.map(([s, junk]) => {
        // Junk bytes inside a quoted field never change the framing: CR, LF and quote are removed.
        const safe = Buffer.from([...junk].filter((b) => b !== 0x22 && b !== 0x0a && b !== 0x0d));
        return Buffer.concat([Buffer.from(`"${s.replaceAll('"', '""')}`), safe, Buffer.from('",x\n')]);
      }),
    )
    .chain((rows) => fc.record({ rows: fc.constant(rows), cuts: cutsArb(Buffer.concat(rows).length) }));
  fc.assert(
    fc.property(arb, ({ rows, cuts }) => {
      const buf = Buffer.concat(rows);
      const { records, error } = parseChunks(splitAt(buf, cuts), { bom: false });
      assert.equal(error, undefined);
      assert.equal(records.length, rows.length);
      records.forEach((rec, i) => {
        assert.equal(rec.invalidUtf8 === true, !isUtf8(rows[i].subarray(0, rows[i].length - 1)), `row ${i}`);
        assert.equal(rec.cells[0], rows[i].subarray(1, rows[i].length - 4).toString().replaceAll('""', '"'));
      });
    }),
    { numRuns: 300 },
  );
});

test('property: cells written by csv-stringify read back unchanged', () => {
  const recordsArb = fc.array(fc.array(cellArb, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 });
  fc.assert(
    fc.property(recordsArb, dialectArb, (records, d) => {
      const text = csvStringifySync(records, {
        delimiter: d.delimiter,
        record_delimiter: d.newline === '\n' ? 'unix' : d.newline === '\r\n' ? 'windows' : 'mac',
        quoted_empty: true,
        // csv-stringify only quotes the chosen record delimiter; a lone CR or LF must be quoted too.
        quoted_match: /[\r\n]/,
      });
      assert.deepEqual(parseAll(text, { delimiter: d.delimiter }).map((r) => r.cells), records);
    }),
    { numRuns: 200 },
  );
});

test('the benchmark dataset reads back as the generated rows, like csv-parse reads it', async () => {
  const { generateRows, rowToCsvLine, DATASET_COLUMNS } = await import('../bench/gen-dataset.ts');
  const rows = [...generateRows({ rows: 2000, seed: 7 })];
  assert.deepEqual([...generateRows({ rows: 2000, seed: 7 })], rows, 'same seed, same rows');
  const text = `${DATASET_COLUMNS.join(',')}\n${rows.map(rowToCsvLine).join('')}`;
  const buf = Buffer.from(text);
  const ours = parseChunks(splitAt(buf, Array.from({ length: 40 }, (_, i) => i * 4099)));
  assert.equal(ours.error, undefined);
  const cells = ours.records.map((r) => r.cells);
  assert.deepEqual(cells, csvParseSync(buf, CSV_PARSE_REFERENCE_OPTIONS));
  assert.deepEqual(cells.slice(1), rows.map((r) => [r.id, String(r.int), String(r.float), r.category, r.text]));
  assert.ok(rows.some((r) => r.text.includes('\n')) && rows.some((r) => r.text.includes('"')) && rows.some((r) => /[\u4e00-\u9fff]/.test(r.text)));
});

// ---- native framing (the wasm store of lib/wasm/csv-render.ts) ----------------------------------

/** Records with their byte offsets, or the error, with or without the native framing. */
function framed(chunks: readonly Uint8Array[], opts: CsvParserOptions, native: boolean) {
  const records: unknown[] = [];
  const store = native ? createCsvRenderer(createLineBatcher({ onBatch: () => {} }))!.store : undefined;
  try {
    const parser = createCsvParser({ ...opts, store });
    const onRecord = (cells: string[], line: number, invalidUtf8: boolean, offset: number) => records.push({ cells, line, invalidUtf8, offset });
    for (const chunk of chunks) parser.push(chunk, onRecord);
    parser.end(onRecord);
    return { records, line: parser.line };
  } catch (error) {
    return { records, error: error instanceof ArkBatchError ? `${error.code} ${error.message} line=${error.line}` : String(error) };
  }
}

const longCellArb = fc.oneof(
  cellArb,
  fc.string({ unit: fc.constantFrom('a', 'b', ' ', ',', '"', '\r', '\n', '\r\n', 'é', '中', '😀', '\u0080'), maxLength: 70 }),
  fc.string({ unit: fc.constantFrom('x', 'y', '中'), minLength: 14, maxLength: 40 }),
);

test('property: the native framing gives the same records, lines, offsets and errors as the scan, in any chunking', () => {
  const clean = fc
    .tuple(fc.array(fc.array(fc.record({ value: longCellArb, forceQuote: fc.boolean() }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 }), dialectArb)
    .map(([rows, d]) => ({ delimiter: d.delimiter as string, buf: Buffer.from(writeCsv(rows, d).text) }));
  const dirty = fc
    .array(fc.constantFrom('a', 'é', ' ', ',', '"', '""', '\n', '\r\n', '\r', '中', 'xxxxxxxxxxxxxxxxxx', '\n\n', '\xff'), { maxLength: 40 })
    .map((tokens) => ({ delimiter: ',', buf: Buffer.from(tokens.map((t) => (t === '\xff' ? '\u0000' : t)).join('')) }))
    .map(({ delimiter, buf }) => ({ delimiter, buf: Buffer.from(buf.map((b) => (b === 0 ? 0xff : b))) }));
  // Repeated up to 200 KB, so that the parser's buffer grows in the middle of a run.
  const big = fc.tuple(clean, fc.integer({ min: 50, max: 3000 })).map(([{ delimiter, buf }, n]) => ({ delimiter, buf: Buffer.concat(Array(n).fill(Buffer.concat([buf, Buffer.from('\n')]))).subarray(0, 200_000) }));
  const arb = fc
    .oneof({ weight: 4, arbitrary: clean }, { weight: 4, arbitrary: dirty }, { weight: 1, arbitrary: big })
    .chain(({ delimiter, buf }) => fc.record({ delimiter: fc.constant(delimiter), buf: fc.constant(buf), cuts: cutsArb(buf.length), afterCr: fc.boolean(), latin1: fc.boolean() }));
  fc.assert(
    fc.property(arb, ({ delimiter, buf, cuts, afterCr, latin1 }) => {
      // Sometimes a chunk ends right after each of the first CRs, so whether its LF follows is not known yet.
      const crCuts = afterCr ? [...buf.entries()].filter(([, b]) => b === 0x0d).slice(0, 40).map(([i]) => i + 1) : [];
      const chunks = splitAt(buf, [...cuts, ...crCuts]);
      assert.deepEqual(framed(chunks, { delimiter, latin1 }, true), framed(chunks, { delimiter, latin1 }, false));
    }),
    { numRuns: 1000 },
  );
});

test('the native framing honours maxRecordBytes and a 10 MB field like the scan', () => {
  const big = `a,"${'x"",\n'.repeat(2_500_000)}"\nb,c\n`;
  const chunks = splitAt(Buffer.from(big), Array.from({ length: 200 }, (_, i) => i * 65536));
  for (const opts of [{}, { maxRecordBytes: 1_000_000 }]) assert.deepEqual(framed(chunks, opts, true), framed(chunks, opts, false));
});
