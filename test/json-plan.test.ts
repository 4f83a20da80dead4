import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileTemplate, type TemplateOptions } from '../lib/requests/template.ts';
import { createLineBatcher, type LineBatch } from '../lib/jsonl/line-batch.ts';
import { putJsonString } from '../lib/requests/json-plan.ts';
import type { Row } from '../lib/sources/row.ts';

const csvRow: Row = { index: 1, columns: ['a', 'b'], cells: ['x', 'y'] };
const recordRow: Row = { index: 1, record: { a: 'x', b: 'y' } };

function invariant(options: TemplateOptions, row: Row = csvRow): boolean {
  return compileTemplate(options).bindJson(row).schemaInvariant;
}

test('placeholders in message text and text parts leave the schema verdict to one probe', () => {
  assert.equal(invariant({ user: 'Q: {{a}}', system: 'S {{b}}', params: { max_tokens: 5 } }), true);
  assert.equal(invariant({ body: { messages: [{ role: 'user', content: '{{a}}' }] } }), true);
  assert.equal(invariant({ body: { messages: [{ role: 'user', content: [{ type: 'text', text: 'x {{a}}' }, { type: 'text', text: '{{b}}' }] }] } }), true);
});

test('a placeholder in a constrained position, or a typed value of a record, needs ajv per row', () => {
  assert.equal(invariant({ body: { messages: [{ role: '{{a}}', content: 'x' }] } }), false);
  assert.equal(invariant({ body: { messages: [{ role: 'user', content: 'x' }], model: 'm-{{a}}' } }), false);
  assert.equal(invariant({ body: { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: '{{a}}' } }] }] } }), false);
  assert.equal(invariant({ body: { messages: [{ role: 'user', content: [{ type: '{{a}}', text: '{{b}}' }] }] } }), false);
  assert.equal(invariant({ body: { messages: [{ role: 'user', content: 'x' }], max_tokens: '{{a}}' } }), false);
  assert.equal(invariant({ body: { messages: ['{{a}}'] } }), false);
  // A record's whole-value placeholder may be an array of parts, an object, a number.
  assert.equal(invariant({ body: { messages: [{ role: 'user', content: '{{a}}' }] } }, recordRow), false);
  assert.equal(invariant({ body: { messages: [{ role: 'user', content: 'text {{a}}' }] } }, recordRow), true);
});

test('the JSON plan renders what JSON.stringify of the rendered body gives', () => {
  const options: TemplateOptions = { body: { b: 1, 10: 'ten', 2: ['{{a}}', null, 'k'], messages: [{ role: 'user', content: '"{{b}}"\n' }], a: { x: '{{a}}' } }, params: { b: 3 } };
  const t = compileTemplate(options);
  for (const cells of [['x', 'y'], ['', '😀'], ['"\\', '\u0000\u2028']]) {
    const row: Row = { index: 1, columns: ['a', 'b'], cells };
    const r = t.bind(row)(row);
    assert.ok(r.ok);
    assert.equal(t.bindJson(row).render(row), JSON.stringify(r.body));
  }
});

function written(s: string): string {
  const batches: LineBatch[] = [];
  const out = createLineBatcher({ binary: true, batchBytes: 16, onBatch: (b) => batches.push(b) });
  putJsonString(out, s);
  out.commit();
  out.flush();
  return Buffer.concat(batches.map((b) => b.data)).toString('latin1').slice(0, -1);
}

test('binary strings are escaped byte for byte as JSON.stringify escapes them', () => {
  let every = '';
  for (let c = 0; c < 256; c++) every += String.fromCharCode(c);
  assert.equal(written(every), JSON.stringify(every));
  assert.equal(written(every.repeat(3).slice(7)), JSON.stringify(every.repeat(3).slice(7)));
  fc.assert(
    fc.property(fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 200 }), (s) => {
      assert.equal(written(s), JSON.stringify(s));
    }),
  );
});

test('a batcher hands on whole lines only, in order, however lines and batch size compare', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 40 }).map((s) => s.replaceAll('\n', ' ')), { maxLength: 50 }), fc.integer({ min: 1, max: 64 }), (lines, batchBytes) => {
      const batches: LineBatch[] = [];
      const out = createLineBatcher({ batchBytes, onBatch: (b) => batches.push(b) });
      lines.forEach((l, i) => {
        if (i % 3 === 0) {
          out.add(`dropped ${l}`);
          return;
        }
        out.add(l);
      });
      out.flush();
      const text = Buffer.concat(batches.map((b) => b.data)).toString('utf8');
      assert.equal(text, lines.map((l, i) => (i % 3 === 0 ? `dropped ${l}` : l) + '\n').join(''));
      for (const b of batches) {
        assert.ok(b.ends.length > 0);
        assert.equal(b.ends.at(-1), b.data.length);
        let start = 0;
        for (const e of b.ends) {
          assert.equal(b.data[e - 1], 0x0a);
          assert.equal(b.data.subarray(start, e - 1).indexOf(0x0a), -1);
          start = e;
        }
      }
    }),
  );
});

test('lines added in bulk come out as if added one by one, cut into batches at line ends', () => {
  const line = fc.string({ maxLength: 40 }).map((s) => s.replaceAll('\n', ' '));
  fc.assert(
    fc.property(fc.array(fc.array(line, { maxLength: 12 }), { maxLength: 6 }), fc.integer({ min: 1, max: 64 }), (groups, batchBytes) => {
      const run = (bulk: boolean) => {
        const batches: LineBatch[] = [];
        const out = createLineBatcher({ batchBytes, onBatch: (b) => batches.push(b) });
        for (const group of groups) {
          if (!bulk) {
            for (const l of group) out.add(l);
            continue;
          }
          const src = Buffer.from(group.map((l) => `${l}\n`).join(''), 'utf8');
          const ends: number[] = [];
          let end = 0;
          for (const l of group) ends.push((end += Buffer.byteLength(l) + 1));
          // Stale entries past `count` must be ignored.
          out.addLines(src, [...ends, 1e9], group.length);
        }
        out.flush();
        return batches.map((b) => ({ data: b.data.toString('utf8'), ends: [...b.ends] }));
      };
      const bulk = run(true);
      assert.equal(bulk.map((b) => b.data).join(''), groups.flat().map((l) => `${l}\n`).join(''));
      assert.deepEqual(bulk, run(false));
    }),
  );
});

test('a rolled-back line leaves no trace, even when it had moved to a fresh buffer', () => {
  const batches: LineBatch[] = [];
  const out = createLineBatcher({ binary: true, batchBytes: 8, onBatch: (b) => batches.push(b) });
  out.add('abc');
  putJsonString(out, 'a long line that needs a new buffer');
  out.rollback();
  out.add('de');
  out.flush();
  assert.equal(Buffer.concat(batches.map((b) => b.data)).toString(), 'abc\nde\n');
});

test('the preparer takes the precompiled path only when the probe passes and no row can change the verdict', async () => {
  const { createPreparer } = await import('../lib/requests/prepare.ts');
  const row: Row = { index: 1, columns: ['a', 'b'], cells: ['x', 'y'], binary: true };
  const mode = (options: TemplateOptions) => {
    const p = createPreparer({ ...options, ids: null, maxRejects: Infinity });
    p.prepare(row);
    return p.precompiled;
  };
  assert.equal(mode({ user: '{{a}}', params: { max_tokens: 3 } }), true);
  assert.equal(mode({ body: { messages: [{ role: '{{a}}', content: 'x' }] } }), false);
  // Every row fails this schema; the per-row path reports each with its own error.
  assert.equal(mode({ user: '{{a}}', params: { stream: true } }), false);
  assert.equal(createPreparer({ user: '{{a}}', ids: null, precompiled: false }).precompiled, false);
});

test('the schema still leaves message content and text parts free: any string passes there', async () => {
  // The JSON plan skips per-row ajv on the strength of these facts; a schema change that
  // constrains these strings (maxLength, pattern, an if on content) must fail here first.
  const { chatBodySchema } = await import('../lib/requests/schema.ts');
  const message = chatBodySchema.properties.messages.items;
  const content = message.properties.content.anyOf;
  assert.deepEqual(content[0], { type: 'string' });
  const mentions = (v: unknown, key: string): boolean =>
    Array.isArray(v) ? v.some((x) => mentions(x, key)) : v !== null && typeof v === 'object' ? Object.entries(v).some(([k, x]) => (k === key && !Array.isArray(v)) || mentions(x, key)) : false;
  // Outside `properties.content` itself, content appears only as a required name.
  assert.equal(mentions(message.allOf.map((a) => ({ ...a, else: undefined })), 'content'), false);
  assert.deepEqual((message.allOf[0] as { else: unknown }).else, { required: ['content'] });
  const parts = content[1] as { items: { oneOf: readonly { properties: Record<string, unknown> }[] } };
  const textPart = parts.items.oneOf.find((p) => (p.properties.type as { const?: string }).const === 'text')!;
  assert.deepEqual(textPart.properties.text, { type: 'string' });
  for (const other of parts.items.oneOf.filter((p) => p !== textPart)) assert.notEqual((other.properties.type as { const?: string }).const, 'text');
});
