/**
 * Differential tests of the fast prep path (fused CSV stage, precompiled JSON plan, schema
 * checked once) against the generic per-row path with the reference encoder
 * (`rowsFromCsv → prepareRequests({precompiled: false})`): same bytes, same rejects, same
 * errors, same counts, over random CSV and random templates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { ArkBatchError } from '../lib/errors.ts';
import { prep, type PrepOptions } from '../lib/prep.ts';
import type { PrepareOptions, PrepareStats } from '../lib/requests/prepare.ts';
import type { Reject } from '../lib/validate/rejects.ts';
import { batchLinesFromCsv } from '../transforms/batch-lines-from-csv.ts';
import { parallelBatchLinesFromCsv, parallelCsvLinesApplies } from '../lib/requests/csv-lines-parallel.ts';
import { idsUniqueByConstruction } from '../lib/requests/custom-id.ts';
import { prepareRequests } from '../transforms/prepare-requests.ts';
import { rowsFromCsv } from '../transforms/rows-from-csv.ts';
import { isLineBatch, type LineBatch } from '../lib/jsonl/line-batch.ts';
import { cutsArb, splitAt } from './helpers/chunking.ts';
import { mapIds } from './helpers/ids.ts';


// ---- random CSV ---------------------------------------------------------------------------

const cellText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('', 'a', 'b', 'x1', 'dup', '中文', '😀', 'say "hi"', 'a,b', 'two\nlines', 'cr\r\nlf', 'back\\slash', 'tab\tbed', '\u0001ctl', '\u2028') },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('"', ',', '\n', '\\', '中', '😀', ' ', '\u0000', '\u001f', 'é'), maxLength: 30 }) },
);

/** One CSV cell as bytes: quoted when it must be (or at random), sometimes with an invalid UTF-8 byte. */
const cellBytes = fc.tuple(cellText, fc.boolean(), fc.nat({ max: 40 })).map(([text, quote, bad]) => {
  const needs = /[",\r\n]/.test(text) || text === '';
  let bytes = Buffer.from(needs || quote ? `"${text.replaceAll('"', '""')}"` : text, 'utf8');
  if (bad === 0 && !needs && !quote) bytes = Buffer.concat([bytes, Buffer.from([0xff])]);
  return bytes;
});

/** Mostly three cells (columns a, b, c), sometimes ragged. */
const rowBytes = fc.oneof({ weight: 12, arbitrary: fc.array(cellBytes, { minLength: 3, maxLength: 3 }) }, { weight: 1, arbitrary: fc.array(cellBytes, { minLength: 1, maxLength: 5 }) });

const csvArb = fc.tuple(fc.array(rowBytes, { maxLength: 25 }), fc.constantFrom('\n', '\r\n')).map(([rows, eol]) => {
  const parts: Buffer[] = [Buffer.from(`a,b,c${eol}`)];
  for (const cells of rows) {
    cells.forEach((c, i) => parts.push(i > 0 ? Buffer.concat([Buffer.from(','), c]) : c));
    parts.push(Buffer.from(eol));
  }
  return Buffer.concat(parts);
});

// ---- random templates and options -----------------------------------------------------------

const textTemplate = fc.constantFrom('{{a}}', 'Q: {{b}}', '{{a}} / {{ c }} 中文 "q" \\ \t', 'plain text', '{{b}}{{a}}', '😀{{c}}\n', '\u0001{{a}}');

/** Placeholders in free-text positions and in constrained ones (role, url, numbers, model). */
const bodyTemplate = fc.constantFrom<unknown>(
  { messages: [{ role: 'user', content: '{{b}}' }] },
  { messages: [{ role: 'system', content: 'be brief {{c}}' }, { role: 'user', content: [{ type: 'text', text: 'x {{a}}' }, { type: 'text', text: '{{b}}' }] }], temperature: 0.5 },
  { messages: [{ role: '{{a}}', content: 'hi' }] },
  // Constrained positions whose probe (all fields "") passes while other values fail.
  { messages: [{ role: 'user{{a}}', content: 'x' }] },
  { messages: [{ role: 'user', content: 'q' }], service_tier: 'auto{{c}}' },
  { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: '{{b}}' } }] }] },
  { messages: [{ role: 'user', content: '{{b}}' }], max_tokens: '{{a}}' },
  { messages: [{ role: 'user', content: '{{b}}' }], model: '{{c}}' },
  { messages: [{ role: 'user', content: [{ type: '{{a}}', text: 'x' }] }] },
  { messages: [{ role: 'user', content: '{{b}}', name: '{{a}}' }], '2': 'n', '1': '{{c}}' },
  JSON.parse('{"__proto__": "k", "messages": [{"role": "user", "content": "{{b}}"}], "max_tokens": 1, "max_tokens": 2}'),
  { messages: [] },
  { messages: [{ role: 'user', content: '{{b}}' }], stream: true },
  { messages: [{ role: 'user', content: 'k' }], metadata: { tag: '{{a}}', list: ['{{b}}', 3, null] } },
);

const templateArb = fc.oneof(
  fc.record({ user: textTemplate, system: fc.option(textTemplate, { nil: undefined }) }),
  fc.record({ body: bodyTemplate }),
);

const optionsArb = fc.record({
  template: templateArb,
  params: fc.constantFrom<Record<string, unknown>>({}, { max_tokens: 64 }, { temperature: 3 }, { max_tokens: 5, top_p: 0.9, stop: ['\n'] }),
  onEmpty: fc.constantFrom<'keep' | 'error' | 'skip-row'>('keep', 'error', 'skip-row'),
  id: fc.constantFrom<PrepareOptions['id']>({}, { column: 'a' }, { template: 'doc-{{a}}-{{c}}' }),
  target: fc.constantFrom<'ark' | 'openai'>('ark', 'ark', 'openai'),
  maxRejects: fc.constantFrom(Infinity, Infinity, 0, 2),
  maxLineBytes: fc.constantFrom(undefined, undefined, 160),
  shard: fc.constantFrom(undefined, undefined, { index: 0, count: 2 }),
});

type Options = typeof optionsArb extends fc.Arbitrary<infer T> ? T : never;

function sharedOptions(o: Options) {
  return {
    ...o.template,
    params: o.params,
    onEmpty: o.onEmpty,
    id: o.id,
    target: o.target,
    model: o.target === 'openai' ? 'gpt-模型' : undefined,
    maxRejects: o.maxRejects,
    maxLineBytes: o.maxLineBytes,
    shard: o.shard,
  };
}

function prepareOptions(o: Options, extra: Partial<PrepareOptions>): PrepareOptions {
  return { ...sharedOptions(o), file: 'in.csv', ids: mapIds(), ...extra };
}

interface Outcome {
  readonly bytes: Buffer | null;
  readonly rejects: Reject[];
  readonly error: string | null;
  readonly stats: unknown;
}

function describeError(err: unknown): string {
  if (err instanceof ArkBatchError) return `${err.code} ${err.message} row=${err.row} line=${err.line} id=${err.customId}`;
  return `not an ArkBatchError: ${String(err)}`;
}

/** The generic per-row path with the reference encoder. */
async function reference(chunks: Buffer[], o: Options): Promise<Outcome> {
  const rejects: Reject[] = [];
  const out: Buffer[] = [];
  const preparer = prepareRequests(prepareOptions(o, { precompiled: false, onReject: (r) => rejects.push(r) }));
  try {
    await pipeline(
      Readable.from(chunks),
      rowsFromCsv({ file: 'in.csv', latin1: true }),
      preparer,
      new Writable({
        objectMode: true,
        write(line: Buffer, _enc, cb) {
          out.push(line, Buffer.from('\n'));
          cb();
        },
      }),
    );
  } catch (err) {
    return { bytes: null, rejects, error: describeError(err), stats: preparer.stats };
  }
  return { bytes: Buffer.concat(out), rejects, error: null, stats: preparer.stats };
}

/** The fused CSV stage with the precompiled plan. */
function fused(chunks: Buffer[], o: Options, batchBytes: number, options = prepareOptions(o, {})): Promise<Outcome> {
  const rejects: Reject[] = [];
  return collectBatches(chunks, batchLinesFromCsv({ ...options, onReject: (r) => rejects.push(r), batchBytes }), rejects);
}

/** Runs a stage that emits LineBatches; each batch is checked, copied and released (memory may be reused). */
async function collectBatches(chunks: Buffer[], stage: Transform & { readonly stats: PrepareStats }, rejects: Reject[]): Promise<Outcome> {
  const out: Buffer[] = [];
  try {
    await pipeline(
      Readable.from(chunks),
      stage,
      new Writable({
        objectMode: true,
        write(batch: LineBatch, _enc, cb) {
          assert.ok(isLineBatch(batch));
          assert.equal(batch.ends.at(-1), batch.data.length, 'a batch ends at a line end');
          out.push(Buffer.from(batch.data));
          batch.release();
          cb();
        },
      }),
    );
  } catch (err) {
    return { bytes: null, rejects, error: describeError(err), stats: stage.stats };
  }
  return { bytes: Buffer.concat(out), rejects, error: null, stats: stage.stats };
}

test('the fused CSV path gives the bytes, rejects, errors and counts of the per-row reference path', async () => {
  await fc.assert(
    fc.asyncProperty(csvArb, optionsArb, cutsArb, fc.constantFrom(1, 64, 1 << 16), async (csv, o, cuts, batchBytes) => {
      const chunks = splitAt(csv, cuts);
      const want = await reference(chunks, o);
      const got = await fused(chunks, o, batchBytes);
      assert.equal(got.error, want.error);
      assert.deepEqual(got.rejects, want.rejects);
      assert.deepEqual(got.stats, want.stats);
      if (want.bytes !== null) assert.equal(got.bytes!.toString('latin1'), want.bytes.toString('latin1'));
    }),
    { numRuns: 300 },
  );
});

/** The parallel stage (lib/requests/csv-lines-parallel.ts), on this thread or on workers. */
function parallel(chunks: Buffer[], options: PrepareOptions, mode: { threads: number; chunkBytes: number; minPieces: number }): Promise<Outcome> {
  const rejects: Reject[] = [];
  return collectBatches(chunks, parallelBatchLinesFromCsv({ ...options, onReject: (r) => rejects.push(r), batchBytes: 64, ...mode }), rejects);
}

/** Options as prep() gives them: no uniqueness table for `row-<n>` ids. */
function prepLikeOptions(o: Options): PrepareOptions {
  return prepareOptions(o, { ids: idsUniqueByConstruction(o.id ?? {}) ? null : mapIds() });
}

async function sameAsFused(csv: Buffer, o: Options, cuts: number[], mode: { threads: number; chunkBytes: number; minPieces: number }): Promise<void> {
  fc.pre(parallelCsvLinesApplies(prepLikeOptions(o)));
  const chunks = splitAt(csv, cuts);
  // Each run its own uniqueness table.
  const want = await fused(chunks, o, 1 << 16, prepLikeOptions(o));
  const got = await parallel(chunks, prepLikeOptions(o), mode);
  assert.equal(got.error, want.error);
  assert.deepEqual(got.rejects, want.rejects);
  assert.deepEqual(got.stats, want.stats);
  if (want.bytes !== null) assert.equal(got.bytes!.toString('latin1'), want.bytes.toString('latin1'));
}

test("the parallel CSV stage gives the fused path's bytes, rejects, errors and counts (pieces on this thread)", async () => {
  await fc.assert(
    fc.asyncProperty(csvArb, optionsArb, cutsArb, fc.integer({ min: 1, max: 300 }), (csv, o, cuts, chunkBytes) =>
      sameAsFused(csv, o, cuts, { threads: 2, chunkBytes, minPieces: Infinity }),
    ),
    { numRuns: 300 },
  );
});

test('the parallel CSV stage on worker threads gives the same as the fused path', async () => {
  await fc.assert(
    fc.asyncProperty(csvArb, optionsArb, cutsArb, fc.integer({ min: 1, max: 200 }), fc.constantFrom(1, 2, 3), (csv, o, cuts, chunkBytes, threads) =>
      sameAsFused(csv, o, cuts, { threads, chunkBytes, minPieces: 0 }),
    ),
    { numRuns: 25 },
  );
});

test('the per-row transform with the precompiled plan matches the reference encoder too', async () => {
  await fc.assert(
    fc.asyncProperty(csvArb, optionsArb, async (csv, o) => {
      const run = async (precompiled: boolean) => {
        const lines: string[] = [];
        const rejects: Reject[] = [];
        let error: string | null = null;
        try {
          await pipeline(
            Readable.from([csv]),
            rowsFromCsv({ file: 'in.csv', latin1: true }),
            prepareRequests(prepareOptions(o, { precompiled, onReject: (r) => rejects.push(r) })),
            new Writable({
              objectMode: true,
              write(line: Buffer, _enc, cb) {
                lines.push(line.toString('latin1'));
                cb();
              },
            }),
          );
        } catch (err) {
          error = describeError(err);
        }
        return { lines, rejects, error };
      };
      assert.deepEqual(await run(true), await run(false));
    }),
    { numRuns: 150 },
  );
});

test('text rows (not binary) through the precompiled plan match the reference encoder, surrogates and all', async () => {
  const text = fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', '\n', '\u0000', '中', '\ud800', '\udc00', '😀'), fc.string({ unit: 'binary', maxLength: 1 })), maxLength: 12 });
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(text, text, text), { maxLength: 10 }), textTemplate, async (rows, user) => {
      const run = async (precompiled: boolean) => {
        const lines: string[] = [];
        await pipeline(
          Readable.from(rows.map(([a, b, c], i) => ({ index: i + 1, columns: ['a', 'b', 'c'], cells: [a, b, c] }))),
          prepareRequests({ user: `\ud83d${user}\ude00`, ids: null, precompiled, maxRejects: Infinity }),
          new Writable({
            objectMode: true,
            write(line: string, _enc, cb) {
              lines.push(line);
              cb();
            },
          }),
        );
        return lines;
      };
      assert.deepEqual(await run(true), await run(false));
    }),
    { numRuns: 150 },
  );
});

// ---- end to end: prep() fused vs prep() per-row with the reference encoder -----------------

async function withDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ark-batch-fast-'));
  try {
    return await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runPrep(dir: string, name: string, csvPath: string, o: Options, split: { splitLines?: number; splitBytes?: number }, fast: boolean) {
  const out = join(dir, name, 'out.jsonl');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(dir, name));
  const options: PrepOptions = {
    ...sharedOptions(o),
    input: csvPath,
    output: out,
    rejectsPath: join(dir, name, 'rejects.jsonl'),
    ...split,
    fused: fast,
    precompiled: fast,
  };
  let error: string | null = null;
  let summary: unknown = null;
  try {
    const s = await prep(options);
    summary = { ...s, seconds: 0, output: '', rejectsFile: '', manifest: s.manifest && { ...s.manifest } };
  } catch (err) {
    error = describeError(err);
  }
  const files: Record<string, string> = {};
  for (const f of (await readdir(join(dir, name))).sort()) files[f.replace(/\.[0-9a-f]+\.tmp$/, '.tmp')] = (await readFile(join(dir, name, f))).toString('latin1');
  return { error, summary, files };
}

test('prep() on a CSV file writes the same files (single or split) the fused way and the per-row way', async () => {
  await fc.assert(
    fc.asyncProperty(
      csvArb,
      optionsArb,
      fc.constantFrom<{ splitLines?: number; splitBytes?: number }>({}, { splitLines: 2 }, { splitBytes: 400 }, { splitLines: 3, splitBytes: 700 }),
      async (csv, o, split) =>
        withDir(async (dir) => {
          const csvPath = join(dir, 'in.csv');
          await writeFile(csvPath, csv);
          const fast = await runPrep(dir, 'fast', csvPath, o, split, true);
          const slow = await runPrep(dir, 'slow', csvPath, o, split, false);
          assert.equal(fast.error?.replaceAll(csvPath, 'IN'), slow.error?.replaceAll(csvPath, 'IN'));
          assert.deepEqual(fast.files, slow.files);
          assert.deepEqual(fast.summary, slow.summary);
        }),
    ),
    { numRuns: 60 },
  );
});

test('prep() to a stream writes the fused batches as plain JSONL', async () => {
  await withDir(async (dir) => {
    const csvPath = join(dir, 'in.csv');
    await writeFile(csvPath, 'a,b,c\n1,"say ""hi""\nthere",中文\n2,x,😀\n');
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const summary = await prep({ input: csvPath, output: sink, user: '{{b}} ({{c}})', id: { column: 'a' } });
    assert.equal(summary.written, 2);
    assert.equal(
      Buffer.concat(chunks).toString('utf8'),
      '{"custom_id":"1","body":{"messages":[{"role":"user","content":"say \\"hi\\"\\nthere (中文)"}]}}\n' +
        '{"custom_id":"2","body":{"messages":[{"role":"user","content":"x (😀)"}]}}\n',
    );
  });
});

test('stdin CSV and TSV files take the fused path and give what the per-row path gives', async () => {
  await withDir(async (dir) => {
    const tsvPath = join(dir, 'in.tsv');
    await writeFile(tsvPath, 'a\tb\tc\n1\t"tab\there"\t中\n2\t\t"x ""y"""\n');
    const run = async (input: string, fused: boolean, stdin?: Readable) => {
      const sink = new PassThrough();
      const chunks: Buffer[] = [];
      sink.on('data', (c: Buffer) => chunks.push(c));
      const progress: number[] = [];
      const s = await prep({ input, output: sink, stdin, format: input === '-' ? 'tsv' : undefined, user: '{{b}}|{{c}}', id: { template: 'k{{a}}' }, fused, precompiled: fused, onProgress: (p) => progress.push(p.rows) });
      return { text: Buffer.concat(chunks).toString('utf8'), written: s.written, format: s.format, lastProgress: progress.at(-1) };
    };
    const slow = await run(tsvPath, false);
    assert.equal(slow.written, 2);
    assert.equal(slow.lastProgress, 2);
    assert.deepEqual(await run(tsvPath, true), slow);
    const bytes = await readFile(tsvPath);
    assert.deepEqual(await run('-', true, Readable.from([bytes.subarray(0, 7), bytes.subarray(7)])), slow);
  });
});

test('huge fields and templates, bodies past the wasm output region and a buffer that grows and shrinks give the reference bytes', async () => {
  // Cells with quotes (`""` in the file), control bytes, CJK and emoji, from empty to 800 KB: a
  // body that uses an 800 KB field twice may pass RENDER_OUT_BYTES and takes the cells path.
  const cell = (n: number, seed: number) => {
    const alphabet = ['a', 'b', ' ', '"', '\\', '\n', '\u0001', '中', '😀', ','];
    let s = '';
    for (let i = 0; s.length < n; i++) s += alphabet[(i * 7 + seed) % alphabet.length];
    return `"${s.replaceAll('"', '""')}"`;
  };
  const sizes = [0, 10, 70_000, 300_000, 800_000, 5, 800_000, 20, 3, 1_500_000, 7];
  const csv = Buffer.from(['a,b,c', ...sizes.map((n, i) => `id${i},${cell(n, i)},${cell(i, i + 1)}`)].join('\n') + '\n', 'utf8');
  const chunks = splitAt(csv, Array.from({ length: Math.ceil(csv.length / 65536) }, (_, i) => i * 65536));
  // And templates with 70 KB and 300 KB of constant text: the first fits the wasm program region,
  // the second takes the cells path; neither may disturb the parser's buffer.
  const templates = [{ user: '{{b}} | {{c}}' }, { user: '{{b}}{{b}}', system: '{{c}}' }, { user: '{{c}}', system: '中'.repeat(23_000) }, { user: '{{c}}', system: 's'.repeat(300_000) }];
  for (const template of templates) {
    const o: Options = { template: template as Options['template'], params: {}, onEmpty: 'keep', id: { column: 'a' }, target: 'ark', maxRejects: Infinity, maxLineBytes: undefined, shard: undefined };
    const want = await reference(chunks, o);
    const got = await fused(chunks, o, 1 << 16);
    assert.equal(got.error, null);
    assert.deepEqual(got.stats, want.stats);
    assert.ok(got.bytes!.equals(want.bytes!));
  }
});
