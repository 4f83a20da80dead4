import { test } from 'node:test';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rowsFromJsonl } from '../transforms/rows-from-jsonl.ts';
import { linesFromBytes } from '../transforms/lines-from-bytes.ts';
import { ArkBatchError } from '../lib/errors.ts';
import { createLineDecoder } from '../lib/jsonl/lines.ts';
import type { Line } from '../lib/jsonl/lines.ts';
import { createJsonlRowReader } from '../lib/sources/jsonl.ts';
import type { Row } from '../lib/sources/row.ts';
import { collect, cutsArb, recordArb, splitAt, viaJson } from './helpers/chunking.ts';

const enc = (s: string) => Buffer.from(s, 'utf8');
const rowsOf = (input: Uint8Array | string, options = {}) =>
  collect<Row>(rowsFromJsonl({ file: 'in.jsonl', ...options }), [typeof input === 'string' ? enc(input) : input]);

test('each non-blank line becomes a row with its record, 1-based row index and physical line', async () => {
  const rows = await rowsOf('{"a":1}\r\n\n   \n{"b":"中文"}\r\n\t\r\n{"c":[1,{"d":null}]}');
  assert.deepEqual(
    rows.map((r) => [r.index, r.line, r.record]),
    [
      [1, 1, { a: 1 }],
      [2, 4, { b: '中文' }],
      [3, 6, { c: [1, { d: null }] }],
    ],
  );
  assert.ok(rows.every((r) => r.error === undefined));
});

test('a trailing newline does not make an extra row, and a last line without one is kept', async () => {
  assert.equal((await rowsOf('{"a":1}\n{"a":2}\n')).length, 2);
  assert.equal((await rowsOf('{"a":1}\n{"a":2}')).length, 2);
  assert.equal((await rowsOf('')).length, 0);
  assert.equal((await rowsOf('\n\r\n  \n')).length, 0);
});

test('a UTF-8 byte order mark before the first line is ignored', async () => {
  const rows = await rowsOf(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), enc('{"a":"x"}\n')]));
  assert.deepEqual(rows[0].record, { a: 'x' });
});

test('a line that is not JSON becomes a row with E_JSONL_PARSE naming the line and the parser message', async () => {
  const rows = await rowsOf('{"ok":1}\n\n{"a":\n{"ok":2}\n');
  assert.equal(rows.length, 3);
  const bad = rows[1];
  assert.equal(bad.record, undefined);
  assert.ok(bad.error instanceof ArkBatchError);
  assert.equal(bad.error.code, 'E_JSONL_PARSE');
  assert.equal(bad.error.line, 3);
  assert.equal(bad.index, 2);
  assert.match(bad.error.message, /^in\.jsonl:3: E_JSONL_PARSE line is not valid JSON: .*JSON/);
  assert.ok(bad.error.cause instanceof SyntaxError);
  assert.deepEqual(rows[2].record, { ok: 2 });
});

test('valid JSON that is not an object becomes a row with E_LINE_NOT_OBJECT naming its type', async () => {
  const rows = await rowsOf('[1,2]\n42\nnull\n"s"\ntrue\n{}\n');
  assert.deepEqual(
    rows.map((r) => [r.error?.code, r.error?.detail]),
    [
      ['E_LINE_NOT_OBJECT', 'line is an array, expected an object'],
      ['E_LINE_NOT_OBJECT', 'line is a number, expected an object'],
      ['E_LINE_NOT_OBJECT', 'line is null, expected an object'],
      ['E_LINE_NOT_OBJECT', 'line is a string, expected an object'],
      ['E_LINE_NOT_OBJECT', 'line is a boolean, expected an object'],
      [undefined, undefined],
    ],
  );
  assert.deepEqual(rows[5].record, {});
});

test('a line with invalid UTF-8 becomes a row with E_ENCODING, and later lines are still read', async () => {
  const invalid = [
    [0xff], // never valid
    [0xc0, 0xaf], // overlong '/'
    [0xe4, 0xbd], // truncated 3-byte sequence
    [0xed, 0xa0, 0x80], // UTF-8-encoded surrogate
  ];
  for (const bytes of invalid) {
    const input = Buffer.concat([enc('{"s":"'), Buffer.from(bytes), enc('"}\n{"s":"中"}\n')]);
    const rows = await rowsOf(input);
    assert.equal(rows.length, 2);
    assert.equal(rows[0].error?.code, 'E_ENCODING', `bytes ${bytes}`);
    assert.equal(rows[0].error?.line, 1);
    assert.equal(rows[0].record, undefined);
    assert.deepEqual(rows[1].record, { s: '中' });
  }
});

test('a line longer than maxLineBytes fails the stream with E_BUFFER_LIMIT naming that line', async () => {
  const long = `{"s":"${'x'.repeat(100)}"}`;
  for (const input of [`{"a":1}\n\n${long}\n{"a":2}\n`, `{"a":1}\n\n${long}`]) {
    // Whole input in one chunk (split2 never buffers it) and byte by byte (split2's own bound).
    for (const chunks of [[enc(input)], splitAt(enc(input), [...Array(input.length).keys()])]) {
      await assert.rejects(collect(rowsFromJsonl({ file: 'big.jsonl', maxLineBytes: 50 }), chunks), (err) => {
        assert.ok(err instanceof ArkBatchError);
        assert.equal(err.code, 'E_BUFFER_LIMIT');
        assert.equal(err.line, 3);
        assert.match(err.message, /^big\.jsonl:3: E_BUFFER_LIMIT .*maxLineBytes=50/);
        return true;
      });
    }
  }
});

test('maxLineBytes counts UTF-8 bytes without the line terminator', async () => {
  const line = '{"s":"中文"}'; // 14 bytes, 10 UTF-16 units
  assert.equal(enc(line).length, 14);
  const ok = await rowsOf(`${line}\r\n${line}`, { maxLineBytes: 14 });
  assert.equal(ok.length, 2);
  await assert.rejects(rowsOf(`${line}\r\n`, { maxLineBytes: 13 }), { code: 'E_BUFFER_LIMIT' });
  // A line of exactly the limit whose CR and LF arrive in different chunks is still accepted.
  const crThenLf = [enc(`${line}\r`), enc(`\n${line}\r`), enc('\n')];
  assert.equal((await collect<Row>(rowsFromJsonl({ maxLineBytes: 14 }), crThenLf)).length, 2);
});

test('a bad maxLineBytes is a usage error', () => {
  assert.throws(() => rowsFromJsonl({ maxLineBytes: 0 }), { code: 'E_USAGE' });
  assert.throws(() => rowsFromJsonl({ maxLineBytes: 1.5 }), { code: 'E_USAGE' });
});

test('records round-trip: any objects with Unicode strings, as JSONL in any chunks, come back equal', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(recordArb, fc.constantFrom('\n', '\r\n'), fc.constantFrom('', '\n', ' \r\n', '\t\n')), { maxLength: 20 }),
      fc.boolean(),
      cutsArb,
      async (lines, finalNewline, cuts) => {
        let text = '';
        const expected: { record: unknown; line: number }[] = [];
        let physical = 1;
        lines.forEach(([record, eol, blank], i) => {
          text += blank;
          physical += blank ? 1 : 0;
          text += JSON.stringify(record);
          expected.push({ record: viaJson(record), line: physical });
          if (i < lines.length - 1 || finalNewline) text += eol;
          physical++;
        });
        const rows = await collect<Row>(rowsFromJsonl(), splitAt(enc(text), cuts));
        // Counts reconcile: one row per non-blank line, none lost, none invented.
        assert.equal(rows.length, lines.length);
        rows.forEach((row, i) => {
          assert.equal(row.error, undefined);
          assert.equal(row.index, i + 1);
          assert.equal(row.line, expected[i].line);
          assert.deepEqual(row.record, expected[i].record);
        });
      },
    ),
    { numRuns: 150 },
  );
});

test('output is independent of chunk boundaries, including splits inside UTF-8 characters and between CR and LF', async () => {
  const input = Buffer.concat([
    enc('{"k":"中文😀👩‍👩‍👧"}\r\n\r\n{"e":"é"}\n[1]\r\n{bad\n'),
    Buffer.from([0x7b, 0x22, 0xe4, 0xbd, 0x22, 0x3a, 0x31, 0x7d, 0x0d, 0x0a]), // {"<truncated 中>":1}
    enc('{"last":"🎉"}'),
  ]);
  const summary = (rows: Row[]) => rows.map((r) => [r.index, r.line, r.record, r.error?.code, r.error?.line]);
  const whole = summary(await collect<Row>(rowsFromJsonl(), [input]));
  assert.equal(whole.length, 6);
  assert.deepEqual(whole.map((r) => r[3]), [undefined, undefined, 'E_LINE_NOT_OBJECT', 'E_JSONL_PARSE', 'E_ENCODING', undefined]);
  // Every single cut position, then random multi-cuts.
  for (let cut = 0; cut <= input.length; cut++) {
    assert.deepEqual(summary(await collect<Row>(rowsFromJsonl(), splitAt(input, [cut]))), whole, `cut at ${cut}`);
  }
  await fc.assert(
    fc.asyncProperty(cutsArb, async (cuts) => {
      assert.deepEqual(summary(await collect<Row>(rowsFromJsonl(), splitAt(input, cuts))), whole);
    }),
    { numRuns: 100 },
  );
});

test('the reader applies backpressure: writes report a full buffer when nobody reads', async () => {
  const stream = rowsFromJsonl();
  // Destroying a composed stream aborts its stages; that abort is expected here.
  const closed = new Promise((resolve) => stream.on('error', () => {}).on('close', resolve));
  let accepted = true;
  let written = 0;
  while (accepted && written < 100_000) {
    accepted = stream.write(enc('{"a":1}\n'.repeat(100)));
    written++;
  }
  assert.equal(accepted, false);
  assert.ok(written < 100_000);
  stream.destroy();
  await closed;
});

test('linesFromBytes gives every physical line with its byte count, blank lines included', async () => {
  const input = Buffer.concat([
    enc('ab\r\n\n中文\n'),
    Buffer.from([0x61, 0xff, 0x0a]),
    enc('last'),
  ]);
  const lines = await collect<Line>(linesFromBytes(), [input]);
  assert.deepEqual(
    lines.map((l) => [l.line, l.text, l.bytes, l.validUtf8]),
    [
      [1, 'ab', 2, true],
      [2, '', 0, true],
      [3, '中文', 6, true],
      [4, 'a\ufffd', 2, false],
      [5, 'last', 4, true],
    ],
  );
});

test('linesFromBytes byte counts plus terminators add up to the input size, in any chunking', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('\n', '\r\n')), { maxLength: 15 }), cutsArb, async (parts, cuts) => {
      const text = parts.map(([s, eol]) => s.replace(/[\r\n]/g, '') + eol).join('');
      const bytes = enc(text);
      const lines = await collect<Line>(linesFromBytes(), splitAt(bytes, cuts));
      assert.equal(lines.length, parts.length);
      const total = lines.reduce((n, l, i) => n + l.bytes + parts[i][1].length, 0);
      assert.equal(total, bytes.length);
      assert.deepEqual(lines.map((l) => l.text), parts.map(([s]) => s.replace(/[\r\n]/g, '')));
    }),
    { numRuns: 100 },
  );
});

test('the line decoder strips one CR and a BOM only on line 1, and numbers every line', () => {
  const latin1 = (b: Buffer) => b.toString('latin1');
  const d = createLineDecoder({ maxLineBytes: 10 });
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  assert.deepEqual(d.decode(latin1(Buffer.concat([bom, enc('a\r')]))), { line: 1, text: 'a', bytes: 1, validUtf8: true });
  assert.deepEqual(d.decode(latin1(Buffer.concat([bom, enc('b')]))), { line: 2, text: '\ufeffb', bytes: 4, validUtf8: true });
  assert.deepEqual(d.decode(latin1(enc('x\r\r'))), { line: 3, text: 'x\r', bytes: 2, validUtf8: true });
  assert.equal(d.count, 3);
  assert.throws(() => d.decode('y'.repeat(11)), { code: 'E_BUFFER_LIMIT', line: 4 });
});

test('the JSONL row core numbers rows over non-blank lines only and never sets both record and error', () => {
  const read = createJsonlRowReader({ file: 'f' });
  const line = (n: number, text: string, validUtf8 = true): Line => ({ line: n, text, bytes: enc(text).length, validUtf8 });
  assert.equal(read(line(1, '')), undefined);
  assert.equal(read(line(2, ' \t ')), undefined);
  assert.deepEqual(read(line(3, '{"a":1}')), { index: 1, line: 3, record: { a: 1 } });
  const bad = read(line(4, '   ', false));
  assert.equal(bad?.index, 2);
  assert.equal(bad?.error?.code, 'E_ENCODING');
  assert.equal(bad?.record, undefined);
  // A "__proto__" key stays a plain own property; it does not become the record's prototype.
  const record = read(line(5, '{"__proto__":{"x":1}}'))?.record ?? {};
  assert.ok(Object.hasOwn(record, '__proto__'));
  assert.equal(Object.getPrototypeOf(record), Object.prototype);
  assert.equal((record as { x?: number }).x, undefined);
});

test('a failing consumer tears the reader down and the pipeline rejects with the consumer error', async () => {
  const reader = rowsFromJsonl();
  let pulled = 0;
  async function* endless() {
    for (;;) {
      pulled++;
      yield enc('{"a":1}\n'.repeat(100));
    }
  }
  const consumer = new Writable({
    objectMode: true,
    write(row: Row, _encoding, callback) {
      callback(row.index === 150 ? new Error('sink full') : null);
    },
  });
  await assert.rejects(pipeline(Readable.from(endless()), reader, consumer), /sink full/);
  assert.equal(reader.destroyed, true);
  // The endless source stopped: only the bounded stage buffers (a few dozen chunks) were read ahead.
  assert.ok(pulled < 60, `source pulled ${pulled} chunks`);
});
