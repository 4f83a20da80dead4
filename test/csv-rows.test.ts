import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCsvRowBuilder } from '../lib/sources/csv-rows.ts';
import { ArkBatchError } from '../lib/errors.ts';

test('the header record gives the columns and is not a row', () => {
  const toRow = createCsvRowBuilder({ file: 'a.csv' });
  assert.equal(toRow(['id', 'text'], 1, false), undefined);
  const row = toRow(['1', 'x'], 2, false);
  assert.deepEqual(row, { index: 1, line: 2, columns: ['id', 'text'], cells: ['1', 'x'] });
  assert.ok(Object.isFrozen(row?.columns));
});

test('without a header, a short later row is invalid against the first row', () => {
  const toRow = createCsvRowBuilder({ header: false });
  assert.deepEqual(toRow(['a', 'b', 'c'], 1, false)?.columns, ['1', '2', '3']);
  const err = toRow(['a'], 2, false)?.error;
  assert.equal(err?.code, 'E_ROW_INVALID');
  assert.equal(err?.detail, 'row has 1 fields, first row has 3');
});

test('an invalid UTF-8 header is fatal; an invalid UTF-8 row is flagged with its row and line', () => {
  assert.throws(() => createCsvRowBuilder()(['\ufffd'], 1, true), (e: unknown) => e instanceof ArkBatchError && e.code === 'E_ENCODING');
  const toRow = createCsvRowBuilder({ file: 'b.csv' });
  toRow(['a'], 1, false);
  const err = toRow(['\ufffd'], 7, true)?.error;
  assert.equal(err?.code, 'E_ENCODING');
  assert.equal(err?.message, 'b.csv:7: E_ENCODING row is not valid UTF-8');
  assert.equal(err?.row, 1);
});

test('a header with a duplicate or empty name is a parse error naming the column', () => {
  assert.throws(() => createCsvRowBuilder()(['a', 'b', 'a'], 1, false), /E_CSV_PARSE header column "a" appears twice/);
  assert.throws(() => createCsvRowBuilder()(['a', ''], 1, false), /E_CSV_PARSE header column 2 has an empty name/);
});
