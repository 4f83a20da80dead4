/**
 * The cuts of the parallel CSV path: pieces hold whole records, and the counts taken without
 * parsing are the parser's own, over random well-formed CSV with every line ending, quoted
 * newlines, empty lines and a BOM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { countRecords, createCsvChunker, lastRecordEnd } from '../lib/sources/csv-chunks.ts';
import { createCsvParser } from '../lib/sources/csv-parser.ts';
import { splitAt } from './helpers/chunking.ts';

const cellArb = fc.oneof(
  fc.constantFrom('', 'a', '中文', '😀', 'say "hi"', 'a,b', 'two\nlines', 'cr\r\nlf', 'lone\rcr', '""', '"', '\r', '\n\n'),
  fc.string({ unit: fc.constantFrom('"', ',', '\n', '\r', 'x', '中', ' '), maxLength: 12 }),
);
const eolArb = fc.constantFrom('\n', '\r\n', '\r');

/** Random well-formed CSV: records with quoted cells where needed, any line ending, some empty lines. */
const csvArb = fc
  .tuple(
    fc.array(fc.oneof({ weight: 6, arbitrary: fc.array(fc.tuple(cellArb, fc.boolean()), { minLength: 1, maxLength: 4 }) }, { weight: 1, arbitrary: fc.constant(null) }), { maxLength: 30 }),
    fc.array(eolArb, { minLength: 1, maxLength: 3 }),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([records, eols, bom, finalEol]) => {
    let text = bom ? '\ufeff' : '';
    records.forEach((cells, i) => {
      if (cells !== null) {
        text += cells
          .map(([c, force]) => (force || /[",\r\n]/.test(c) || c === '' ? `"${c.replaceAll('"', '""')}"` : c))
          .join(',');
      }
      if (i < records.length - 1 || finalEol) text += eols[i % eols.length]!;
    });
    return Buffer.from(text, 'utf8');
  });

function parseAll(bytes: Buffer, bom: boolean, startLine = 1): { records: string[][]; lines: number } {
  const records: string[][] = [];
  const parser = createCsvParser({ bom, startLine });
  parser.push(bytes, (cells) => void records.push(cells));
  parser.end((cells) => void records.push(cells));
  return { records, lines: parser.line - startLine };
}

test('countRecords counts what the parser frames', () => {
  fc.assert(
    fc.property(csvArb, (csv) => {
      const parsed = parseAll(csv, true);
      assert.deepEqual(countRecords(csv, true), { records: parsed.records.length, lines: parsed.lines });
    }),
    { numRuns: 500 },
  );
});

test('pieces cut by the chunker hold whole records: parsed one by one they give the whole parse', () => {
  fc.assert(
    fc.property(csvArb, fc.integer({ min: 1, max: 64 }), fc.array(fc.nat({ max: 400 }), { maxLength: 12 }), (csv, chunkBytes, cuts) => {
      const chunker = createCsvChunker({ chunkBytes });
      const pieces: Buffer[] = [];
      for (const part of splitAt(csv, cuts)) pieces.push(...chunker.push(part));
      const last = chunker.end();
      if (last) pieces.push(last);
      assert.deepEqual(Buffer.concat(pieces), csv, 'the pieces are the input');
      const whole = parseAll(csv, true);
      const records: string[][] = [];
      let line = 1;
      pieces.forEach((piece, i) => {
        const counted = countRecords(piece, i === 0);
        const p = parseAll(piece, i === 0, line);
        assert.deepEqual(counted, { records: p.records.length, lines: p.lines });
        records.push(...p.records);
        line += p.lines;
      });
      assert.deepEqual(records, whole.records);
      assert.equal(line - 1, whole.lines);
    }),
    { numRuns: 500 },
  );
});

test('lastRecordEnd never cuts inside quotes or between CR and LF', () => {
  assert.equal(lastRecordEnd(Buffer.from('a,"x\ny"\nb,"p\nq')), 8);
  assert.equal(lastRecordEnd(Buffer.from('a\r\nb\r')), 3, 'a trailing CR may be half of a CRLF');
  assert.equal(lastRecordEnd(Buffer.from('a\r\nb\rc')), 5, 'a lone CR followed by data ends a record');
  assert.equal(lastRecordEnd(Buffer.from('"a\nb')), 0);
  assert.equal(lastRecordEnd(Buffer.from('abc')), 0);
});

test('a record longer than a piece waits for its end, whatever the piece size', () => {
  const long = `"${'x\n'.repeat(5000)}"\nnext\n`;
  const chunker = createCsvChunker({ chunkBytes: 100 });
  const pieces = splitAt(Buffer.from(long), [50, 500, 5000, 9000]).flatMap((c) => chunker.push(c));
  assert.equal(pieces.length, 1);
  assert.equal(pieces[0]!.toString(), long);
  assert.equal(chunker.end(), null);
});

test('with no record end in sight (a stray quote, a record past the limit) the chunker hands everything on instead of holding it', () => {
  const chunker = createCsvChunker({ chunkBytes: 64, maxRecordBytes: 1000 });
  const stray = Buffer.from('id,text\nr0,he said "hi\n' + 'r1,plain\n'.repeat(500));
  const pieces = splitAt(stray, [100, 200, 700, 1500, 3000]).flatMap((c) => chunker.push(c));
  // The header ends at an even count of quotes; from the stray quote on, none does.
  assert.equal(pieces[0]!.toString(), 'id,text\n');
  assert.ok(pieces.length >= 2, 'handed on before the end of the input');
  assert.ok(pieces[1]!.length > 1000 && pieces[1]!.length <= 1000 + 64 + 1500, `second piece ${pieces[1]!.length} bytes`);
  const rest = chunker.end();
  assert.deepEqual(Buffer.concat([...pieces, ...(rest ? [rest] : [])]), stray);
});

test('finding the cut is linear: a long open quoted field is scanned once', () => {
  // 200k lines inside one quoted field: a backward walk from break to break would be quadratic.
  const open = Buffer.from('a,b\n1,"' + 'text line\n'.repeat(200_000));
  assert.equal(lastRecordEnd(open), 4);
});
