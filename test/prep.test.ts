import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import fc from 'fast-check';
import { stringify } from 'csv-stringify/sync';
import { defaultThreads, prep } from '../lib/prep.ts';
import { validateFile } from '../lib/validate/validate-file.ts';
import type { ArkBatchError } from '../lib/errors.ts';
import { cutsArb, splitAt } from './helpers/chunking.ts';

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}

// Well-formed text only: lone surrogates cannot be written as UTF-8 in the first place.
const cellArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: fc.constantFrom('中', '文', '😀', '👩‍👩‍👧', 'é', '\n', '\r\n', '"', '\\', ',', '\t', '\u0001', '\u2028', ' '), maxLength: 20 }),
);

test('CSV → prep → validate: every cell comes back exactly, lines are valid, whatever the chunking', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(cellArb, cellArb), { maxLength: 30 }), cutsArb, async (rows, cuts) => {
      const csv = Buffer.from(stringify([['a', 'b'], ...rows], { quoted_match: /[\r\n]/ }));
      const out = sink();
      const summary = await prep({ input: '-', stdin: Readable.from(splitAt(csv, cuts)), format: 'csv', output: out.stream, user: '<{{a}}|{{b}}>', system: '系统 😀' });
      assert.equal(summary.rowsRead, rows.length);
      assert.equal(summary.written + summary.rejected + summary.skipped, summary.rowsRead);
      const lines = out.text().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      assert.equal(lines.length, rows.length);
      lines.forEach((line, i) => {
        assert.equal(line.custom_id, `row-${i + 1}`);
        assert.deepEqual(line.body.messages, [
          { role: 'system', content: '系统 😀' },
          { role: 'user', content: `<${rows[i]![0]}|${rows[i]![1]}>` },
        ]);
      });
      assert.equal(Buffer.byteLength(out.text()), summary.bytes);
      const problems: ArkBatchError[] = [];
      const checked = await validateFile({ input: '-', stdin: Readable.from([Buffer.from(out.text())]), onProblem: (p) => problems.push(p) });
      assert.equal(checked.valid || rows.length === 0, true, problems.map((p) => p.message).join('\n'));
    }),
    { numRuns: 60 },
  );
});

test('the OpenAI target applies its 50,000-line file limit unless the output is split', async () => {
  const rows = ['id,q', ...Array.from({ length: 50_001 }, (_, i) => `${i},q${i}`)].join('\n');
  await assert.rejects(
    prep({ input: '-', stdin: Readable.from([Buffer.from(rows)]), format: 'csv', output: sink().stream, user: '{{q}}', target: 'openai', model: 'm' }),
    (e: ArkBatchError) => e.code === 'E_FILE_TOO_LARGE' && /50000-line/.test(e.message),
  );
  const dir = await mkdtemp(join(tmpdir(), 'prep-openai-'));
  try {
    const s = await prep({ input: '-', stdin: Readable.from([Buffer.from(rows)]), format: 'csv', output: join(dir, 'b.jsonl'), user: '{{q}}', target: 'openai', model: 'm', splitLines: 50_000 });
    assert.deepEqual(s.manifest!.parts.map((p) => p.lines), [50_000, 1]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a 10 MB field is rejected by the default line limit and passes a raised one', async () => {
  const big = 'x'.repeat(10 * 1024 * 1024);
  const csv = Buffer.from(`id,text\na,small\nb,${big}\n`);
  await assert.rejects(
    prep({ input: '-', stdin: Readable.from([csv]), format: 'csv', output: sink().stream, id: { column: 'id' }, user: '{{text}}' }),
    (e: ArkBatchError) => e.code === 'E_LINE_TOO_LARGE' && e.row === 2 && e.customId === 'b',
  );
  const out = sink();
  const s = await prep({ input: '-', stdin: Readable.from([csv]), format: 'csv', output: out.stream, id: { column: 'id' }, user: '{{text}}', maxLineBytes: 16 * 1024 * 1024 });
  assert.equal(s.written, 2);
  assert.equal(JSON.parse(out.text().split('\n')[1]!).body.messages[0].content.length, big.length);
});

test('duplicates found only after the id table spilled fail the run and publish nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'prep-spill-'));
  try {
    const ids = Array.from({ length: 3000 }, (_, i) => `id-${i}`);
    ids.push('id-5');
    await writeFile(join(dir, 'in.csv'), ['id,t', ...ids.map((id) => `${id},x`)].join('\n'));
    await assert.rejects(
      prep({ input: join(dir, 'in.csv'), output: join(dir, 'out.jsonl'), id: { column: 'id' }, user: '{{t}}', idMemoryBytes: 4096, tmpDir: dir }),
      (e: ArkBatchError) => e.code === 'E_ID_DUPLICATE' && /rows 6 and 3001/.test(e.message),
    );
    assert.deepEqual(await readdir(dir), ['in.csv']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('rejects go to the rejects file with the source row decoded', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'prep-rejects-'));
  try {
    const csv = Buffer.from('id,text\n中,ok\n,空\n');
    const s = await prep({ input: '-', stdin: Readable.from([csv]), format: 'csv', output: join(dir, 'o.jsonl'), id: { column: 'id' }, user: '{{text}}', maxRejects: 5, rejectsPath: join(dir, 'r.jsonl') });
    assert.deepEqual([s.written, s.rejected], [1, 1]);
    const rejects = (await readFile(join(dir, 'r.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rejects, [{ row: 2, line: 3, custom_id: '', code: 'E_ID_EMPTY', message: 'custom_id is empty', source: { id: '', text: '空' } }]);
    assert.equal(JSON.parse(await readFile(join(dir, 'o.jsonl'), 'utf8')).custom_id, '中');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('by default one CPU is left to the output writer and at most 4 threads prepare', () => {
  assert.deepEqual([1, 2, 3, 4, 8, 64].map((cpus) => defaultThreads(cpus)), [1, 1, 2, 3, 4, 4]);
});
