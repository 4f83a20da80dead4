import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import fc from 'fast-check';
import { parquetMetadata } from 'hyparquet';
import { ArkBatchError } from '../lib/errors.ts';
import { joinResults, type JoinOptions } from '../lib/join/join.ts';
import { joinToOutput } from '../lib/join/output.ts';
import { decodeRecord, encodeRecord, parseResultLine, peekRecord } from '../lib/join/result-line.ts';
import { openSource } from '../lib/sources/open.ts';
import type { Row } from '../lib/sources/row.ts';
import { resultLine, type FakeOutcome } from './helpers/results.ts';

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ark-join-test-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function collect(options: JoinOptions): Promise<{ rows: Record<string, unknown>[]; summary: ReturnType<ReturnType<typeof joinResults>['summary']> }> {
  const stream = joinResults(options);
  const rows: Record<string, unknown>[] = [];
  for await (const r of stream) rows.push(r as Record<string, unknown>);
  return { rows, summary: stream.summary() };
}

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) || s === '' ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The reference: a plain in-memory join with the documented rules. */
function referenceJoin(ids: readonly string[], outcomes: readonly FakeOutcome[]) {
  const kept = new Map<string, FakeOutcome>();
  for (const o of outcomes) {
    const k = kept.get(o.id);
    if (!k || k.kind !== 'ok') kept.set(o.id, o);
  }
  return ids.map((id) => {
    const o = kept.get(id);
    if (!o) return { status: 'missing', content: null, error_code: null };
    if (o.kind === 'ok') return { status: 'ok', content: o.content ?? `answer ${o.id}`, error_code: null };
    return { status: 'error', content: null, error_code: o.code ?? (o.kind === 'error' ? 'AccessDenied' : 'RateLimitExceeded') };
  });
}

test('a success line gives content, finish_reason and token counts', () => {
  const r = parseResultLine(resultLine({ id: 'a', kind: 'ok', content: '天空是蓝色的 🌤' }), { file: 0, line: 1 });
  assert.equal(r.ok, true);
  assert.equal(r.customId, 'a');
  assert.equal(r.content, '天空是蓝色的 🌤');
  assert.equal(r.finishReason, 'stop');
  assert.equal(r.promptTokens, 3);
  assert.equal(r.completionTokens, 5);
  assert.equal(r.errorCode, null);
});

test('both error shapes give an error code and message', () => {
  const a = parseResultLine(resultLine({ id: 'a', kind: 'error', code: 'AccessDenied' }), { file: 0, line: 1 });
  assert.deepEqual([a.ok, a.errorCode, a.errorMessage], [false, 'AccessDenied', 'no access']);
  const b = parseResultLine(resultLine({ id: 'b', kind: 'http' }), { file: 0, line: 2 });
  assert.deepEqual([b.ok, b.errorCode, b.errorMessage], [false, 'RateLimitExceeded', 'slow down']);
  const c = parseResultLine(JSON.stringify({ custom_id: 'c', response: { status_code: 500, body: 'oops' }, error: null }), { file: 0, line: 3 });
  assert.deepEqual([c.ok, c.errorCode], [false, 'HTTP_500']);
});

test('reasoning_content is read when the model returns it', () => {
  const line = JSON.stringify({ custom_id: 'r', error: null, response: { status_code: 200, body: { choices: [{ message: { content: 'x', reasoning_content: 'because' }, finish_reason: 'length' }] } } });
  const r = parseResultLine(line, { file: 0, line: 1 });
  assert.deepEqual([r.reasoningContent, r.finishReason], ['because', 'length']);
});

test('a result line without custom_id or not JSON fails with its location', () => {
  assert.throws(() => parseResultLine('{"id":"x"}', { file: 0, line: 7, fileName: 'r.jsonl' }), (e: ArkBatchError) => e.code === 'E_JOIN_MISSING_ID' && e.line === 7);
  assert.throws(() => parseResultLine('{"custom_id":', { file: 0, line: 2, fileName: 'r.jsonl' }), (e: ArkBatchError) => e.code === 'E_JSONL_PARSE' && e.file === 'r.jsonl');
});

const outcomeArb = (ids: string[]) =>
  fc.record({
    id: fc.oneof(fc.constantFrom(...ids), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).map((s) => `orphan-${s}`)),
    kind: fc.constantFrom('ok', 'error', 'http') as fc.Arbitrary<'ok' | 'error' | 'http'>,
    content: fc.string({ unit: 'binary', maxLength: 30 }),
    code: fc.constantFrom('RateLimitExceeded', 'InvalidParameter', 'AccessDenied'),
  });

const caseArb = fc
  .uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).filter((s) => s.trim() === s && !s.includes('\0')), { minLength: 1, maxLength: 25 })
  .chain((keys) =>
    fc.record({
      keys: fc.constant(keys),
      texts: fc.array(fc.string({ unit: 'binary', maxLength: 20 }), { minLength: keys.length, maxLength: keys.length }),
      useColumn: fc.boolean(),
      outcomes: fc.array(outcomeArb(keys.map((k) => `k-${k}`)), { maxLength: 40 }),
      splitAt: fc.nat({ max: 40 }),
    }),
  );

test('joined rows match a plain in-memory reference join, in memory and spilled alike', async () => {
  await withDir(async (dir) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ keys, texts, useColumn, outcomes, splitAt }) => {
        run++;
        const csv = 'key,text\n' + keys.map((k, i) => `${csvCell(`k-${k}`)},${csvCell(texts[i]!)}`).join('\n') + '\n';
        const source = join(dir, `src-${run}.csv`);
        await writeFile(source, csv);
        const ids = keys.map((k, i) => (useColumn ? `k-${k}` : `row-${i + 1}`));
        // Outcomes are about `k-…` ids; with the default rule, map them onto row-<n>.
        const rename = new Map(keys.map((k, i) => [`k-${k}`, ids[i]!]));
        const mapped = outcomes.map((o) => ({ ...o, id: rename.get(o.id) ?? o.id }));
        const cut = Math.min(splitAt, mapped.length);
        const r1 = join(dir, `r1-${run}.jsonl`);
        const r2 = join(dir, `r2-${run}.jsonl`);
        await writeFile(r1, mapped.slice(0, cut).map((o) => resultLine(o) + '\n').join(''));
        await writeFile(r2, mapped.slice(cut).map((o) => resultLine(o) + '\n').join(''));
        const expected = referenceJoin(ids, mapped);
        const base: JoinOptions = { source, results: [r1, r2], id: useColumn ? { column: 'key' } : {} };
        // Worker threads take a while to start: most runs spill on this thread (the same code).
        for (const extra of [{}, { memoryBytes: 1, partitions: 3, workers: run % 10 === 0 ? 2 : 0 }]) {
          const { rows, summary } = await collect({ ...base, ...extra });
          assert.deepEqual(
            rows.map((r) => ({ status: r.status, content: r.content, error_code: r.error_code })),
            expected,
          );
          assert.deepEqual(rows.map((r) => r.text), texts);
          assert.equal(summary.rows, summary.ok + summary.error + summary.missing);
          const known = new Set(ids);
          assert.equal(summary.orphans, new Set(mapped.filter((o) => !known.has(o.id)).map((o) => o.id)).size);
          assert.equal(summary.duplicates, mapped.length - new Set(mapped.map((o) => o.id)).size);
          assert.equal(summary.partitions > 0, 'partitions' in extra && mapped.length > 0);
        }
      }),
      { numRuns: 40 },
    );
  });
});

test('a spill-forced join writes the same bytes as an in-memory join, in every format', async () => {
  await withDir(async (dir) => {
    const n = 300;
    const lines = ['id,text'];
    const outcomes: FakeOutcome[] = [];
    for (let i = 1; i <= n; i++) {
      lines.push(`d${i},"line ${i}, 质量 ""q"" 🎉\nsecond"`);
      if (i % 7 !== 0) outcomes.push({ id: `d${i}`, kind: i % 5 === 0 ? 'http' : 'ok', content: `答案 ${i} ${'x'.repeat(i)}` });
    }
    outcomes.push({ id: 'nobody', kind: 'ok' });
    outcomes.reverse();
    await writeFile(join(dir, 'src.csv'), lines.join('\n') + '\n');
    await writeFile(join(dir, 'results.jsonl'), outcomes.map((o) => resultLine(o)).join('\n') + '\n');
    for (const ext of ['csv', 'jsonl', 'parquet']) {
      const outs: Buffer[] = [];
      for (const [tag, extra] of [['mem', {}], ['spill', { memoryBytes: 1000 }]] as const) {
        const output = join(dir, `out-${tag}.${ext}`);
        const summary = await joinToOutput({ source: join(dir, 'src.csv'), results: [join(dir, 'results.jsonl')], id: { column: 'id' }, output, ...extra });
        assert.equal(summary.partitions > 0, tag === 'spill');
        assert.deepEqual([summary.rows, summary.ok, summary.error, summary.missing, summary.orphans], [n, 206, 52, 42, 1]);
        outs.push(await readFile(output));
      }
      assert.ok(outs[0]!.equals(outs[1]!), ext);
    }
    assert.deepEqual((await readdir(dir)).filter((f) => f.includes('.tmp-')), []);
  });
});

test('CSV, JSONL and Parquet outputs read back as the same rows', async () => {
  await withDir(async (dir) => {
    const records = [
      { id: 'a', n: 1, text: 'plain' },
      { id: 'b', n: 2, text: '多行\n"文本" 🧪' },
      { id: 'c', n: 3, text: '' },
    ];
    await writeFile(join(dir, 'src.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await writeFile(join(dir, 'res.jsonl'), [resultLine({ id: 'b', kind: 'ok', content: 'B,"b"\n🙂' }), resultLine({ id: 'a', kind: 'error', code: 'X' })].join('\n'));
    const read = async (path: string) => {
      const s = await openSource(path);
      const rows: Record<string, unknown>[] = [];
      for await (const row of s.rows) {
        const r = row as Row;
        rows.push(r.record ? { ...r.record } : Object.fromEntries(r.columns!.map((c, i) => [c, r.cells![i]])));
      }
      await s.close();
      return rows;
    };
    const opts = { source: join(dir, 'src.jsonl'), results: [join(dir, 'res.jsonl')], id: { column: 'id' } };
    for (const ext of ['csv', 'jsonl', 'parquet']) await joinToOutput({ ...opts, output: join(dir, `out.${ext}`) });
    const jsonl = await read(join(dir, 'out.jsonl'));
    assert.deepEqual(jsonl.map((r) => [r.id, r.status, r.content, r.error_code, r.prompt_tokens]), [
      ['a', 'error', null, 'X', null],
      ['b', 'ok', 'B,"b"\n🙂', null, 3],
      ['c', 'missing', null, null, null],
    ]);
    const text = (v: unknown) => (v === null || v === undefined ? '' : String(v));
    const asText = (rows: Record<string, unknown>[]) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, text(v)])));
    assert.deepEqual(asText(await read(join(dir, 'out.csv'))), asText(jsonl));
    assert.deepEqual(asText(await read(join(dir, 'out.parquet'))), asText(jsonl));
  });
});

test('a huge field with CJK, emoji and surrogate pairs survives a spilled join', async () => {
  await withDir(async (dir) => {
    const big = '数据🚀'.repeat(400_000) + '\u{1F600}';
    await writeFile(join(dir, 's.csv'), `id\nx\ny\n`);
    await writeFile(join(dir, 'r.jsonl'), resultLine({ id: 'y', kind: 'ok', content: big }) + '\n' + resultLine({ id: 'x', kind: 'http' }) + '\n');
    const { rows } = await collect({ source: join(dir, 's.csv'), results: [join(dir, 'r.jsonl')], id: { column: 'id' }, memoryBytes: 1 });
    assert.equal(rows[1]!.content, big);
    assert.equal(rows[0]!.status, 'error');
  });
});

test('a later success fills an earlier failure, and the first success wins over later ones', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 's.csv'), 'id\na\nb\nc\n');
    await writeFile(join(dir, 'r1.jsonl'), [resultLine({ id: 'a', kind: 'ok', content: 'first' }), resultLine({ id: 'c', kind: 'error' })].join('\n'));
    await writeFile(join(dir, 'e1.jsonl'), [resultLine({ id: 'b', kind: 'http' })].join('\n'));
    await writeFile(join(dir, 'r2.jsonl'), [resultLine({ id: 'a', kind: 'ok', content: 'second' }), resultLine({ id: 'b', kind: 'ok', content: 'retried' })].join('\n'));
    for (const memoryBytes of [undefined, 1]) {
      const { rows, summary } = await collect({ source: join(dir, 's.csv'), results: [join(dir, 'r1.jsonl'), join(dir, 'r2.jsonl')], errors: [join(dir, 'e1.jsonl')], id: { column: 'id' }, memoryBytes });
      assert.deepEqual(rows.map((r) => [r.status, r.content ?? r.error_code]), [['ok', 'first'], ['ok', 'retried'], ['error', 'AccessDenied']]);
      assert.equal(summary.duplicates, 2);
    }
  });
});

test('orphans are counted and written to the orphans file', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 's.csv'), 'id\na\n');
    await writeFile(join(dir, 'r.jsonl'), [resultLine({ id: 'zz', kind: 'ok' }), resultLine({ id: 'a', kind: 'ok' }), resultLine({ id: 'yy', kind: 'error' })].join('\n'));
    for (const memoryBytes of [undefined, 1]) {
      const orphansPath = join(dir, 'orphans.jsonl');
      const { summary } = await collect({ source: join(dir, 's.csv'), results: [join(dir, 'r.jsonl')], id: { column: 'id' }, orphansPath, memoryBytes });
      assert.equal(summary.orphans, 2);
      const lines = (await readFile(orphansPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => [l.custom_id, l.line]).sort(), [['yy', 3], ['zz', 1]]);
    }
  });
});

test('a spilled join reads its source from stdin by keeping a temp copy', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'r.jsonl'), [resultLine({ id: 'row-2', kind: 'ok', content: 'two' })].join('\n'));
    const stdin = Readable.from([Buffer.from('{"q":"one"}\n{"q":"two"}\n')]);
    const { rows } = await collect({ source: '-', stdin, results: [join(dir, 'r.jsonl')], memoryBytes: 1, tmpDir: dir });
    assert.deepEqual(rows.map((r) => [r.q, r.status, r.content]), [['one', 'missing', null], ['two', 'ok', 'two']]);
    assert.deepEqual((await readdir(dir)).sort(), ['r.jsonl']);
  });
});

test('--select picks columns, --raw adds the result line, and a clashing column needs a prefix', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 's.csv'), 'id,status\na,draft\n');
    const line = resultLine({ id: 'a', kind: 'ok', content: 'A' });
    await writeFile(join(dir, 'r.jsonl'), line + '\n');
    const opts = { source: join(dir, 's.csv'), results: [join(dir, 'r.jsonl')], id: { column: 'id' } };
    await assert.rejects(collect(opts), (e: ArkBatchError) => e.code === 'E_USAGE' && /result-prefix/.test(e.message));
    const { rows } = await collect({ ...opts, resultPrefix: 'result_', raw: true, select: ['id', 'status', 'result_content', 'result_raw_response'] });
    assert.deepEqual(rows, [{ id: 'a', status: 'draft', result_content: 'A', result_raw_response: line }]);
  });
});

test('a bad results line fails the join and leaves no output file behind', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 's.csv'), 'id\na\n');
    await writeFile(join(dir, 'r.jsonl'), resultLine({ id: 'a', kind: 'ok' }) + '\n{"custom_id": 1}\n');
    await assert.rejects(
      joinToOutput({ source: join(dir, 's.csv'), results: [join(dir, 'r.jsonl')], id: { column: 'id' }, output: join(dir, 'out.csv') }),
      (e: ArkBatchError) => e.code === 'E_JOIN_MISSING_ID' && e.line === 2,
    );
    assert.deepEqual((await readdir(dir)).sort(), ['r.jsonl', 's.csv']);
  });
});

test('peeking an encoded record gives the id and outcome that decoding gives', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', minLength: 1 }), fc.boolean(), fc.string({ unit: 'binary' }), (customId, ok, content) => {
      const r = parseResultLine(resultLine({ id: customId, kind: ok ? 'ok' : 'error', content }), { file: 0, line: 1 });
      const text = encodeRecord(r);
      assert.deepEqual(peekRecord(text), { customId: decodeRecord(text).customId, ok: decodeRecord(text).ok });
      assert.equal(peekRecord(text).customId, customId);
    }),
  );
});

test('Parquet output is written one bounded row group at a time', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 's.csv'), 'id\n' + Array.from({ length: 30 }, (_, i) => `x${i}`).join('\n') + '\n');
    await writeFile(join(dir, 'r.jsonl'), resultLine({ id: 'x3', kind: 'ok', content: '三' }) + '\n');
    await joinToOutput({ source: join(dir, 's.csv'), results: [join(dir, 'r.jsonl')], id: { column: 'id' }, output: join(dir, 'o.parquet'), rowGroupRows: 7 });
    const buf = await readFile(join(dir, 'o.parquet'));
    const meta = parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    assert.deepEqual(meta.row_groups.map((g) => Number(g.num_rows)), [7, 7, 7, 7, 2]);
    const rows: Row[] = [];
    const s = await openSource(join(dir, 'o.parquet'));
    for await (const r of s.rows) rows.push(r as Row);
    await s.close();
    assert.deepEqual(rows.map((r) => r.record!.status), Array.from({ length: 30 }, (_, i) => (i === 3 ? 'ok' : 'missing')));
    assert.equal(rows[3]!.record!.content, '三');
  });
});

test('a partition that cannot fit the memory budget fails loudly instead of growing', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 's.csv'), 'id\na\n');
    await writeFile(join(dir, 'r.jsonl'), resultLine({ id: 'a', kind: 'ok', content: 'y'.repeat(9 << 20) }) + '\n');
    await assert.rejects(
      collect({ source: join(dir, 's.csv'), results: [join(dir, 'r.jsonl')], id: { column: 'id' }, memoryBytes: 1, partitions: 1, tmpDir: dir }),
      (e: ArkBatchError) => e.code === 'E_BUFFER_LIMIT' && /--memory/.test(e.message),
    );
    assert.deepEqual((await readdir(dir)).sort(), ['r.jsonl', 's.csv']);
  });
});

test('destroying a spilled join early removes its spill files', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 's.csv'), 'id\n' + Array.from({ length: 500 }, (_, i) => `x${i}`).join('\n') + '\n');
    await writeFile(join(dir, 'r.jsonl'), Array.from({ length: 500 }, (_, i) => resultLine({ id: `x${i}`, kind: 'ok' })).join('\n') + '\n');
    const spill = join(dir, 'spill');
    await mkdir(spill);
    const rows = joinResults({ source: join(dir, 's.csv'), results: [join(dir, 'r.jsonl')], id: { column: 'id' }, memoryBytes: 1, tmpDir: spill });
    for await (const row of rows) {
      assert.equal((row as Record<string, unknown>).status, 'ok');
      break;
    }
    // Leaving the loop destroys the stream (Node reports that as an AbortError); its cleanup
    // has run once it has closed.
    rows.on('error', () => {});
    if (!rows.closed) await new Promise((resolve) => rows.once('close', resolve));
    assert.deepEqual(await readdir(spill), []);
  });
});

test('an empty source gives an empty output in every format, and every result is an orphan', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 's.csv'), 'id\n');
    await writeFile(join(dir, 'r.jsonl'), resultLine({ id: 'a', kind: 'ok' }) + '\n');
    for (const ext of ['csv', 'jsonl', 'parquet']) {
      const s = await joinToOutput({ source: join(dir, 's.csv'), results: [join(dir, 'r.jsonl')], id: { column: 'id' }, output: join(dir, `o.${ext}`) });
      assert.deepEqual([s.rows, s.orphans], [0, 1]);
    }
    assert.equal(await readFile(join(dir, 'o.csv'), 'utf8'), '');
    const rows: Row[] = [];
    const src = await openSource(join(dir, 'o.parquet'));
    for await (const r of src.rows) rows.push(r as Row);
    await src.close();
    assert.equal(rows.length, 0);
  });
});

test('a failing output that is un-destroyed like stdout on EPIPE still ends the join with its error', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 's.csv'), 'id\n' + Array.from({ length: 2000 }, (_, i) => `x${i}`).join('\n') + '\n');
    await writeFile(join(dir, 'r.jsonl'), resultLine({ id: 'x1', kind: 'ok' }) + '\n');
    // What Node does for process.stdout: destroy() emits 'close' once, then un-destroys.
    const output = new Writable({
      emitClose: false,
      write(_chunk, _enc, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
      destroy(err, callback) {
        callback(err);
        (this as unknown as { _undestroy(): void })._undestroy();
        process.nextTick(() => this.emit('close'));
      },
    });
    await assert.rejects(joinToOutput({ source: join(dir, 's.csv'), results: [join(dir, 'r.jsonl')], id: { column: 'id' }, output, outputFormat: 'jsonl' }), /EPIPE/);
  });
});
