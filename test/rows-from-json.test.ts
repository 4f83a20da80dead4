import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rowsFromJson } from '../transforms/rows-from-json.ts';
import { ArkBatchError, exitCodeFor } from '../lib/errors.ts';
import type { Row } from '../lib/sources/row.ts';
import { createJsonArrayReader } from '../lib/sources/json.ts';
import type { JsonToken } from '../lib/sources/json.ts';
import { collect, cutsArb, recordArb, splitAt, viaJson } from './helpers/chunking.ts';

const enc = (s: string) => Buffer.from(s, 'utf8');
const rowsOf = (input: string) => collect<Row>(rowsFromJson({ file: 'in.json' }), [enc(input)]);

test('each element of the top-level array becomes a row with its record and 1-based index', async () => {
  const rows = await rowsOf('[{"a":1},\n  {"b":"中文","c":{"d":[1,null]}}, {}]');
  assert.deepEqual(
    rows.map((r) => [r.index, r.record, r.line, r.error]),
    [
      [1, { a: 1 }, undefined, undefined],
      [2, { b: '中文', c: { d: [1, null] } }, undefined, undefined],
      [3, {}, undefined, undefined],
    ],
  );
  assert.deepEqual(await rowsOf(' [ ] '), []);
});

test('a "__proto__" key stays plain data, as with JSON.parse, at any depth and with any value', async () => {
  const input = '[{"__proto__":1,"a":2},{"__proto__":{"x":1}},{"n":{"__proto__":[1],"constructor":"c"}}]';
  const rows = await rowsOf(input);
  assert.deepEqual(rows.map((r) => r.record), JSON.parse(input));
  for (const row of rows) assert.equal(Object.getPrototypeOf(row.record), Object.prototype);
  assert.ok(Object.hasOwn(rows[0].record ?? {}, '__proto__'));
});

test('the array core turns parser tokens into rows, one per completed top-level element', () => {
  const read = createJsonArrayReader({ file: 'f.json' });
  const tokens: JsonToken[] = [
    { name: 'startArray' },
    { name: 'startObject' },
    { name: 'keyValue', value: 'a' },
    { name: 'startArray' },
    { name: 'numberValue', value: '1.5' },
    { name: 'nullValue' },
    { name: 'endArray' },
    { name: 'endObject' },
    { name: 'trueValue' },
    { name: 'endArray' },
  ];
  const rows = tokens.map(read).filter((r) => r !== undefined);
  assert.deepEqual(rows[0], { index: 1, record: { a: [1.5, null] } });
  assert.equal(rows[1].error?.detail, 'element 2 is a boolean, expected an object');
  assert.equal(rows.length, 2);
  assert.throws(() => createJsonArrayReader()({ name: 'startObject' }), { code: 'E_JSON_PARSE' });
});

test('an element that is not an object becomes a row with E_LINE_NOT_OBJECT saying what it is', async () => {
  const rows = await rowsOf('[{"a":1}, 17, null, [1], "s", false, {"z":2}]');
  assert.deepEqual(
    rows.map((r) => r.error?.detail),
    [
      undefined,
      'element 2 is a number, expected an object',
      'element 3 is null, expected an object',
      'element 4 is an array, expected an object',
      'element 5 is a string, expected an object',
      'element 6 is a boolean, expected an object',
      undefined,
    ],
  );
  assert.equal(rows[1].error?.code, 'E_LINE_NOT_OBJECT');
  assert.equal(rows[1].error?.row, 2);
  assert.equal(rows[1].record, undefined);
  assert.deepEqual(rows[6].record, { z: 2 });
});

test('a document that is not an array fails with E_JSON_PARSE', async () => {
  for (const input of ['{"a":1}', '"text"', '42', '', '   ']) {
    await assert.rejects(rowsOf(input), (err) => {
      assert.ok(err instanceof ArkBatchError, `${JSON.stringify(input)}: ${String(err)}`);
      assert.equal(err.code, 'E_JSON_PARSE');
      assert.equal(err.file, 'in.json');
      assert.equal(exitCodeFor(err), 1);
      return true;
    });
  }
  await assert.rejects(rowsOf('{"a":1}'), { detail: 'the document is not a JSON array (expected `[` first)' });
});

test('malformed JSON fails with E_JSON_PARSE carrying what the parser said', async () => {
  const cases: [string, RegExp][] = [
    ['[{"a":1},', /malformed JSON: Parser has expected a value/],
    ['[1,]', /malformed JSON: Parser cannot parse input: unexpected token ']'/],
    ['[{"a":1}] trailing', /malformed JSON: Parser cannot parse input: unexpected characters/],
    ['[{"a" 1}]', /malformed JSON: Parser cannot parse input: expected ':'/],
    ['[nul]', /malformed JSON/],
  ];
  for (const [input, message] of cases) {
    await assert.rejects(rowsOf(input), (err) => {
      assert.ok(err instanceof ArkBatchError, input);
      assert.equal(err.code, 'E_JSON_PARSE');
      assert.match(err.detail, message);
      assert.ok(err.cause instanceof Error);
      return true;
    });
  }
});

test('an element larger than maxElementBytes fails with E_BUFFER_LIMIT naming the element', async () => {
  const big = `{"s":"${'中'.repeat(400)}"}`;
  const chunks = splitAt(enc(`[{"a":1}, 2, ${big}, {"b":2}]`), Array.from({ length: 60 }, (_, i) => i * 37));
  await assert.rejects(collect(rowsFromJson({ file: 'big.json', maxElementBytes: 1000 }), chunks), (err) => {
    assert.ok(err instanceof ArkBatchError);
    assert.equal(err.code, 'E_BUFFER_LIMIT');
    assert.equal(err.row, 3);
    assert.match(err.message, /^big\.json:3: E_BUFFER_LIMIT element 3 is larger than maxElementBytes=1000/);
    return true;
  });
  // With room for 1200 bytes of CJK plus a few tokens, the same document passes.
  assert.equal((await collect<Row>(rowsFromJson({ maxElementBytes: 1300 }), chunks)).length, 4);
  assert.throws(() => rowsFromJson({ maxElementBytes: -1 }), { code: 'E_USAGE' });
});

test('an oversized element is stopped while it is still arriving', async () => {
  const stream = rowsFromJson({ maxElementBytes: 1000 });
  const failed = new Promise<unknown>((resolve) => stream.on('error', resolve));
  stream.resume();
  stream.write(enc('[{"s":"'));
  for (let i = 0; i < 20; i++) stream.write(enc('x'.repeat(100)));
  // The document is never finished, yet the stream has already failed.
  assert.equal((await failed as ArkBatchError).code, 'E_BUFFER_LIMIT');
});

test('invalid UTF-8 anywhere in the document fails with E_ENCODING, even when cut mid-character', async () => {
  const bad = [
    Buffer.concat([enc('[{"a":"'), Buffer.from([0xff]), enc('"}]')]),
    Buffer.concat([enc('[{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), enc('"}]')]),
    Buffer.concat([enc('[{"a":"x"}, "'), Buffer.from([0xe4, 0xbd])]), // truncated at the very end
  ];
  for (const input of bad) {
    for (let cut = 0; cut <= input.length; cut++) {
      await assert.rejects(collect(rowsFromJson({ file: 'u.json' }), splitAt(input, [cut])), (err) => {
        assert.ok(err instanceof ArkBatchError);
        assert.equal(err.code, 'E_ENCODING');
        assert.match(err.message, /^u\.json: E_ENCODING the document is not valid UTF-8 \(within bytes \d+-\d+\)/);
        return true;
      });
    }
  }
});

test('rows come out before the document ends, so a huge array is never held whole', async () => {
  const stream = rowsFromJson();
  const it = stream[Symbol.asyncIterator]();
  stream.write(enc('[{"n":1},{"n":2},'));
  const first = await it.next();
  assert.deepEqual((first.value as Row).record, { n: 1 });
  stream.end(enc('{"n":3}]'));
  const rest: Row[] = [];
  for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value as Row);
  assert.deepEqual(rest.map((r) => r.record), [{ n: 2 }, { n: 3 }]);
});

test('records round-trip: any array of objects with Unicode strings, in any layout and chunks, comes back equal', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(recordArb, { maxLength: 15 }), fc.constantFrom(undefined, 0, 2, '\t'), cutsArb, async (records, indent, cuts) => {
      const bytes = enc(JSON.stringify(records, null, indent));
      const rows = await collect<Row>(rowsFromJson(), splitAt(bytes, cuts));
      assert.equal(rows.length, records.length);
      rows.forEach((row, i) => {
        assert.equal(row.index, i + 1);
        assert.equal(row.error, undefined);
        assert.deepEqual(row.record, viaJson(records[i]));
      });
    }),
    { numRuns: 150 },
  );
});

test('output is independent of chunk boundaries, including splits inside UTF-8 characters', async () => {
  const input = enc('\ufeff[ {"k":"中文😀👩‍👩‍👧","esc":"\\ud83d\\ude00\\ud800"}, 5,\r\n {"e":"é"} ]');
  const whole = await collect<Row>(rowsFromJson(), [input.subarray(3)]);
  assert.deepEqual(whole[0].record, { k: '中文😀👩‍👩‍👧', esc: '😀\ud800' });
  assert.equal(whole[1].error?.code, 'E_LINE_NOT_OBJECT');
  const summary = (rows: Row[]) => rows.map((r) => [r.index, r.record, r.error?.code]);
  // The input starts with a BOM, which the reader skips wherever the cut falls.
  for (let cut = 0; cut <= input.length; cut++) {
    assert.deepEqual(summary(await collect<Row>(rowsFromJson(), splitAt(input, [cut]))), summary(whole), `cut at ${cut}`);
  }
  await fc.assert(
    fc.asyncProperty(cutsArb, async (cuts) => {
      assert.deepEqual(summary(await collect<Row>(rowsFromJson(), splitAt(input, cuts))), summary(whole));
    }),
    { numRuns: 100 },
  );
});
