import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileTemplate } from '../lib/requests/template.ts';
import { bindIdRule } from '../lib/requests/custom-id.ts';
import { ArkBatchError } from '../lib/errors.ts';
import type { Row } from '../lib/sources/row.ts';

const columns = ['id', 'review', 'lang'];
const csvRow = (index: number, cells: string[]): Row => ({ index, line: index + 1, columns, cells });

test('--user and --system build a messages body with params, filling {{column}} placeholders', () => {
  const t = compileTemplate({ system: 'You label {{lang}} text.', user: 'Classify: {{ review }}', params: { max_tokens: 16 } });
  assert.deepEqual(t.fields, ['lang', 'review']);
  const render = t.bind(csvRow(1, ['7', 'great "stuff", really', 'en']));
  const r = render(csvRow(1, ['7', 'great "stuff", really', 'en']));
  assert.deepEqual(r, {
    ok: true,
    body: {
      messages: [
        { role: 'system', content: 'You label en text.' },
        { role: 'user', content: 'Classify: great "stuff", really' },
      ],
      max_tokens: 16,
    },
  });
});

test('a placeholder naming no column fails at bind time, before any line', () => {
  const t = compileTemplate({ user: '{{missing}}' });
  assert.throws(() => t.bind(csvRow(1, ['1', 'x', 'en']), 'in.csv'), (e: ArkBatchError) => e.code === 'E_TEMPLATE' && /missing/.test(e.message) && /in\.csv/.test(e.message));
});

test('nested {{a.b}} fields and typed whole-value placeholders in a body template', () => {
  const t = compileTemplate({
    body: {
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe {{meta.title}}' }, { type: 'image_url', image_url: { url: '{{img}}' } }] }],
      max_tokens: '{{budget}}',
    },
    params: { temperature: 0.2 },
  });
  const row: Row = { index: 1, line: 1, record: { meta: { title: '猫' }, img: 'tos://b/cat.png', budget: 64 } };
  const r = t.bind(row)(row);
  assert.ok(r.ok);
  assert.deepEqual(r.body, {
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe 猫' }, { type: 'image_url', image_url: { url: 'tos://b/cat.png' } }] }],
    max_tokens: 64,
    temperature: 0.2,
  });
});

test('--on-empty decides between keep, error and skip-row', () => {
  const row = csvRow(3, ['3', '', 'en']);
  const keep = compileTemplate({ user: '[{{review}}]' }).bind(row)(row);
  assert.ok(keep.ok && (keep.body.messages as { content: string }[])[0]!.content === '[]');
  const err = compileTemplate({ user: '{{review}}', onEmpty: 'error' }).bind(row)(row);
  assert.ok(!err.ok && !err.skip && err.error.code === 'E_EMPTY_CELL' && err.error.row === 3);
  const skip = compileTemplate({ user: '{{review}}', onEmpty: 'skip-row' }).bind(row)(row);
  assert.ok(!skip.ok && skip.skip);
});

test('without a template the call is a usage error', () => {
  assert.throws(() => compileTemplate({}), (e: ArkBatchError) => e.code === 'E_USAGE');
  assert.throws(() => compileTemplate({ body: {}, user: 'x' }), (e: ArkBatchError) => e.code === 'E_USAGE');
  assert.throws(() => compileTemplate({ body: [] }), (e: ArkBatchError) => e.code === 'E_TEMPLATE');
});

test('any cell text lands in the message content unchanged (Unicode, quotes, newlines, empty, huge)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme', maxLength: 50 }), fc.constant('x'.repeat(100_000))), (text) => {
      const row = csvRow(1, ['1', text, 'en']);
      const r = compileTemplate({ user: '{{review}}' }).bind(row)(row);
      assert.ok(r.ok);
      const back = JSON.parse(JSON.stringify(r.body)) as { messages: { content: string }[] };
      assert.equal(back.messages[0]!.content, text);
    }),
  );
});

test('custom_id rules: default row-<n>, a column, a template; empty ids are errors', () => {
  const row = csvRow(5, ['a-1', 'r', 'en']);
  assert.equal(bindIdRule({}, row)(row), 'row-5');
  assert.equal(bindIdRule({ column: 'id' }, row)(row), 'a-1');
  assert.equal(bindIdRule({ template: 'doc-{{id}}-{{lang}}' }, row)(row), 'doc-a-1-en');
  const empty = csvRow(6, ['', 'r', '']);
  const e1 = bindIdRule({ column: 'id' }, row)(empty);
  assert.ok(e1 instanceof ArkBatchError && e1.code === 'E_ID_EMPTY' && e1.row === 6);
  const e2 = bindIdRule({ template: 'doc-{{id}}' }, row)(empty);
  assert.ok(e2 instanceof ArkBatchError && e2.code === 'E_ID_EMPTY');
  assert.throws(() => bindIdRule({ column: 'nope' }, row), (e: ArkBatchError) => e.code === 'E_TEMPLATE');
  assert.throws(() => bindIdRule({ template: 'constant' }, row), (e: ArkBatchError) => e.code === 'E_TEMPLATE');
});
