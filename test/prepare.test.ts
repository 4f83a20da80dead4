import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createPreparer } from '../lib/requests/prepare.ts';
import { checkBatchLine } from '../lib/validate/check-line.ts';
import { ArkBatchError } from '../lib/errors.ts';
import type { Row } from '../lib/sources/row.ts';
import { mapIds } from './helpers/ids.ts';

const columns = ['id', 'text'];


const cellsArb = fc.array(fc.tuple(fc.oneof(fc.constantFrom('a', 'b', 'c', ''), fc.string({ maxLength: 4 })), fc.string({ unit: 'grapheme', maxLength: 30 })), { maxLength: 60 });

test('rows in = lines out + rejects + skipped, and every line passes validate', () => {
  fc.assert(
    fc.property(cellsArb, fc.constantFrom<'keep' | 'error' | 'skip-row'>('keep', 'error', 'skip-row'), (data, onEmpty) => {
      const rejects: number[] = [];
      const p = createPreparer({
        user: 'Q: {{text}}',
        id: { column: 'id' },
        onEmpty,
        ids: mapIds(),
        maxRejects: Infinity,
        onReject: (r) => rejects.push(r.row!),
      });
      const out: string[] = [];
      data.forEach(([id, text], i) => {
        const line = p.prepare({ index: i + 1, line: i + 2, columns, cells: [id, text] });
        if (line !== null) out.push(line);
      });
      const s = p.stats;
      assert.equal(s.rowsRead, data.length);
      assert.equal(s.rowsRead, s.written + s.rejected + s.skipped);
      assert.equal(out.length, s.written);
      assert.equal(rejects.length, s.rejected);
      const ids = new Set<string>();
      for (const [n, line] of out.entries()) {
        const v = JSON.parse(line) as { custom_id: string };
        assert.equal(checkBatchLine(v, 'ark', { line: n + 1 }), null);
        assert.ok(!ids.has(v.custom_id), 'ids are unique');
        ids.add(v.custom_id);
      }
      assert.equal(s.bytes, out.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0));
    }),
  );
});

test('an injected duplicate is always found and names both rows', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 2, maxLength: 50 }), fc.nat(), fc.nat(), (ids, a, b) => {
      const from = a % ids.length;
      const rows = [...ids];
      const at = b % (rows.length + 1);
      rows.splice(at, 0, ids[from]!);
      const p = createPreparer({ user: '{{text}}', id: { column: 'id' }, ids: mapIds() });
      let caught: ArkBatchError | undefined;
      try {
        rows.forEach((id, i) => p.prepare({ index: i + 1, columns, cells: [id, 'x'] }));
      } catch (e) {
        caught = e as ArkBatchError;
      }
      assert.ok(caught, 'the duplicate stops the run');
      assert.equal(caught.code, 'E_ID_DUPLICATE');
      const firstRow = rows.indexOf(ids[from]!) + 1;
      const secondRow = rows.indexOf(ids[from]!, firstRow) + 1;
      assert.equal(caught.row, secondRow);
      assert.match(caught.message, new RegExp(`duplicates row ${firstRow}\\b`));
    }),
  );
});

test('fail fast by default: the first bad row stops with its own located error', () => {
  const p = createPreparer({ user: '{{text}}', id: { column: 'id' }, ids: mapIds(), file: 'in.csv' });
  assert.equal(typeof p.prepare({ index: 1, line: 2, columns, cells: ['a', 'x'] }), 'string');
  assert.throws(() => p.prepare({ index: 2, line: 3, columns, cells: ['', 'x'] }), (e: ArkBatchError) => e.message === 'in.csv:3: E_ID_EMPTY custom_id is empty (custom_id=)');
});

test('--max-rejects N keeps going for N rejects, then stops', () => {
  const seen: string[] = [];
  const p = createPreparer({ user: '{{text}}', id: { column: 'id' }, ids: mapIds(), maxRejects: 2, onReject: (r) => seen.push(r.code) });
  p.prepare({ index: 1, columns, cells: ['', 'x'] });
  p.prepare({ index: 2, columns, cells: ['', 'x'] });
  assert.throws(() => p.prepare({ index: 3, columns, cells: ['', 'x'] }), (e: ArkBatchError) => e.code === 'E_TOO_MANY_REJECTS');
  assert.deepEqual(seen, ['E_ID_EMPTY', 'E_ID_EMPTY', 'E_ID_EMPTY']);
});

test('a row the reader could not read is rejected with its own error and source', () => {
  const sources: unknown[] = [];
  const p = createPreparer({ user: '{{text}}', ids: null, maxRejects: 10, onReject: (r) => sources.push(r) });
  p.prepare({ index: 1, columns, cells: ['a', 'b'] });
  const error = new ArkBatchError('E_ROW_INVALID', 'row has 3 fields, header has 2', { file: 'f.csv', row: 2, line: 3 });
  assert.equal(p.prepare({ index: 2, line: 3, columns, cells: ['a', 'b', 'c'], error }), null);
  assert.deepEqual(sources, [{ row: 2, line: 3, custom_id: undefined, code: 'E_ROW_INVALID', message: 'row has 3 fields, header has 2', source: { id: 'a', text: 'b', _3: 'c' } }]);
});

test('the file limit is fatal and says how to split', () => {
  const p = createPreparer({ user: '{{text}}', ids: null, maxFileBytes: 200 });
  const row = (i: number): Row => ({ index: i, columns, cells: [String(i), 'x'.repeat(50)] });
  p.prepare(row(1));
  assert.throws(() => {
    for (let i = 2; i < 10; i++) p.prepare(row(i));
  }, (e: ArkBatchError) => e.code === 'E_FILE_TOO_LARGE' && /--split-bytes/.test(e.message));
});
