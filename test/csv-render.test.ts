import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createLineBatcher, type LineBatch } from '../lib/jsonl/line-batch.ts';
import { createCsvRenderer, MAX_PROGRAM_BYTES, MAX_RENDER_SLOTS, type RenderStep } from '../lib/wasm/csv-render.ts';

const byte = fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c));

/** What a quoted CSV field's inside becomes in JSON: `""` is one quote, then JSON.stringify's escapes (without the quotes). */
function expected(inside: string): string {
  return JSON.stringify(inside.replaceAll('""', '"')).slice(1, -1);
}

/** Renders `steps` with slot k set to `fields[k]` (binary strings laid out in the store), through a batcher. */
function renderAll(steps: readonly RenderStep[], rows: readonly (readonly string[])[], storeBytes: number): string[] {
  const batches: LineBatch[] = [];
  const out = createLineBatcher({ batchBytes: 256, binary: true, onBatch: (b) => batches.push(b) });
  const r = createCsvRenderer(out);
  assert.ok(r, 'the wasm module is available on this Node');
  assert.equal(r.program(steps), true);
  let buf = r.store.resize(storeBytes, 0);
  for (const fields of rows) {
    const size = fields.reduce((n, f) => n + f.length, 0);
    // The parser grows its buffer between records: the renderer must follow it.
    if (size > buf.length) buf = r.store.resize(size * 2, 0);
    let at = 0;
    fields.forEach((f, k) => {
      buf.write(f, at, 'latin1');
      r.setSlot(k, at, at + f.length);
      at += f.length;
    });
    r.lines.ensure(r.bound());
    const start = r.lines.pos;
    r.render();
    assert.ok(r.lines.pos - start <= r.bound(), 'the body is within its bound');
    r.lines.commit();
  }
  r.lines.flush();
  out.flush();
  // Split at the batches' line ends: constants may hold any byte, a newline too.
  return batches.flatMap((b) => b.ends.map((end, i) => b.data.toString('latin1', i === 0 ? 0 : b.ends[i - 1], end - 1)));
}

/** A quoted field's inside: any bytes, each quote doubled. */
const inside = fc.string({ unit: fc.oneof(byte.filter((c) => c !== '"'), fc.constantFrom('""', Buffer.from('中').toString('latin1'), '\\', '\n')), maxLength: 200 });

test('a program writes its constants and each slot escaped, `""` read as one quote', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.string({ unit: byte, maxLength: 30 }).map((s) => Buffer.from(s, 'latin1') as RenderStep), fc.nat(3)), { maxLength: 12 }),
      fc.array(fc.array(inside, { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
      fc.constantFrom(16, 65536),
      (steps, rows, storeBytes) => {
        const want = rows.map((fields) => steps.map((s) => (typeof s === 'number' ? expected(fields[s]!) : Buffer.from(s).toString('latin1'))).join(''));
        assert.deepEqual(renderAll(steps, rows, storeBytes), want);
      },
    ),
  );
});

test('kept source bytes and lines not yet handed on stay put while the store grows and shrinks', () => {
  const lines: string[] = [];
  const out = createLineBatcher({ batchBytes: 64, binary: true, onBatch: (b) => lines.push(b.data.toString('latin1')) });
  const r = createCsvRenderer(out)!;
  assert.equal(r.program([Buffer.from('<'), 0, Buffer.from('>')]), true);
  const render = () => {
    r.lines.ensure(r.bound());
    r.render();
    r.lines.commit();
  };
  const small = r.store.resize(65536, 0);
  small.write('kept "" bytes', 0, 'latin1');
  r.setSlot(0, 0, 13);
  render();
  // Past the first pages of the memory, so the module's memory grows and its old views detach;
  // the output region moves up with the source, the line rendered above with it.
  const big = r.store.resize(8 << 20, 13);
  assert.equal(big.toString('latin1', 0, 13), 'kept "" bytes');
  big.write('tail\n', (8 << 20) - 5, 'latin1');
  r.setSlot(0, (8 << 20) - 5, 8 << 20);
  render();
  // And back down, with a line in progress.
  r.lines.ensure(2);
  r.lines.buf[r.lines.pos++] = 0x78;
  const again = r.store.resize(65536, 13);
  assert.equal(again.toString('latin1', 0, 13), 'kept "" bytes');
  r.setSlot(0, 0, 4);
  r.render();
  r.lines.commit();
  r.lines.flush();
  out.flush();
  assert.equal(lines.join(''), '<kept \\" bytes>\n<tail\\n>\nx<kept>\n');
});

test('a program with a slot past the last one, or too many bytes, is refused', () => {
  const r = createCsvRenderer(createLineBatcher({ onBatch: () => {} }))!;
  assert.equal(r.program([MAX_RENDER_SLOTS]), false);
  assert.equal(r.program([MAX_RENDER_SLOTS - 1]), true);
  assert.equal(r.program([Buffer.alloc(MAX_PROGRAM_BYTES - 12)]), true);
  assert.equal(r.program([Buffer.alloc(MAX_PROGRAM_BYTES - 11)]), false);
});

test('setting a program while the parser holds its buffer leaves that buffer attached and intact', () => {
  // The parser binds the program in the middle of scanning its buffer: the memory must not grow
  // then, which would detach the buffer (its length would read 0).
  for (const size of [65536, 127_984, 1 << 20]) {
    const r = createCsvRenderer(createLineBatcher({ onBatch: () => {} }))!;
    const buf = r.store.resize(size, 0);
    buf.fill(0x61);
    assert.equal(r.program([Buffer.alloc(MAX_PROGRAM_BYTES - 24, 0x62), 0]), true);
    assert.equal(buf.length, size);
    assert.ok(buf.every((b) => b === 0x61));
  }
});

test('the memory a huge record grew is given back once the parser shrinks its buffer, with what it holds', () => {
  const lines: string[] = [];
  const out = createLineBatcher({ batchBytes: 64, binary: true, onBatch: (b) => lines.push(b.data.toString('latin1')) });
  const r = createCsvRenderer(out)!;
  assert.equal(r.program([Buffer.from('<'), 0, Buffer.from('>')]), true);
  const huge = r.store.resize(100 << 20, 0);
  huge.write('kept', 0, 'latin1');
  huge.write('far', (100 << 20) - 3, 'latin1');
  r.setSlot(0, (100 << 20) - 3, 100 << 20);
  r.lines.ensure(r.bound());
  r.render();
  r.lines.commit();
  assert.ok(r.memoryBytes > 100 << 20);
  const small = r.store.resize(65536, 4);
  assert.ok(r.memoryBytes < 16 << 20, `${r.memoryBytes} bytes`);
  assert.equal(small.toString('latin1', 0, 4), 'kept');
  r.setSlot(0, 0, 4);
  r.lines.ensure(r.bound());
  r.render();
  r.lines.commit();
  r.lines.flush();
  out.flush();
  assert.equal(lines.join(''), '<far>\n<kept>\n');
});
