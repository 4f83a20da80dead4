import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { fstatSync, openSync } from 'node:fs';
import fc from 'fast-check';
import { createPartsWriter, manifestPath, partPath, startsNewPart, type PartsManifest } from '../lib/jsonl/parts.ts';
import { linesToParts } from '../transforms/lines-to-parts.ts';
import { linesToFile } from '../transforms/lines-to-file.ts';
import { ArkBatchError } from '../lib/errors.ts';
import { startFileWriterThread } from '../lib/jsonl/threaded-file-sink.ts';

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ark-batch-parts-test-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const byteLen = (line: string | Uint8Array): number => (typeof line === 'string' ? Buffer.byteLength(line) : line.byteLength);
const isCode = (code: string) => (e: unknown) => e instanceof ArkBatchError && e.code === code;

/** A source that yields `lines` and then fails, like a parser hitting a bad row. */
function failingAfter(lines: readonly string[]): Readable {
  return Readable.from(
    (async function* () {
      yield* lines;
      throw new ArkBatchError('E_JSONL_PARSE', 'bad input', { line: lines.length + 1 });
    })(),
    { objectMode: true },
  );
}

/** Reads the run back and checks every manifest claim against the files on disk. */
async function readRun(dir: string, base: string): Promise<{ manifest: PartsManifest; parts: Buffer[] }> {
  const manifest = JSON.parse(await readFile(manifestPath(base), 'utf8')) as PartsManifest;
  const parts: Buffer[] = [];
  let firstLine = 1;
  for (const [i, p] of manifest.parts.entries()) {
    assert.equal(p.file, `out-${String(i + 1).padStart(5, '0')}.jsonl`);
    const bytes = await readFile(join(dir, p.file));
    assert.equal(p.bytes, bytes.length);
    assert.equal(p.sha256, sha256(bytes));
    assert.equal(p.lines, bytes.toString('latin1').split('\n').length - 1);
    assert.equal(p.firstLine, firstLine);
    firstLine += p.lines;
    parts.push(bytes);
  }
  assert.equal(manifest.version, 1);
  assert.equal(manifest.lines, firstLine - 1);
  assert.equal(manifest.bytes, parts.reduce((n, b) => n + b.length, 0));
  assert.deepEqual((await readdir(dir)).sort(), [...manifest.parts.map((p) => p.file), 'out.manifest.json'].sort());
  return { manifest, parts };
}

const lineArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 60 }).map((s) => JSON.stringify({ custom_id: s })),
  fc.string({ unit: 'binary', maxLength: 20 }).map((s) => JSON.stringify(s)),
  fc.constantFrom('', '{"custom_id":"中文","body":{"t":"😀"}}', 'x'.repeat(300)),
);
/** Some lines as Buffers: the writer must treat both forms alike. */
const inputArb = fc.array(fc.tuple(lineArb, fc.boolean()), { maxLength: 120 }).map((pairs) => pairs.map(([l, asBuf]) => (asBuf ? Buffer.from(l) : l)));

test('part and manifest names follow <stem>-00001<ext> and <stem>.manifest.json', () => {
  assert.equal(partPath('out.jsonl', 1), 'out-00001.jsonl');
  assert.equal(partPath(join('d', 'a.b.jsonl'), 12), join('d', 'a.b-00012.jsonl'));
  assert.equal(partPath('out', 3), 'out-00003');
  assert.equal(partPath('out.jsonl', 123456), 'out-123456.jsonl');
  assert.equal(manifestPath('out.jsonl'), 'out.manifest.json');
  assert.equal(manifestPath('out'), 'out.manifest.json');
});

test('the cut rule starts a part only when the next line would pass a limit', () => {
  assert.equal(startsNewPart(0, 0, 10_000, { splitLines: 1, splitBytes: 5 }), false);
  assert.equal(startsNewPart(2, 20, 5, { splitLines: 3 }), false);
  assert.equal(startsNewPart(3, 20, 5, { splitLines: 3 }), true);
  assert.equal(startsNewPart(2, 20, 5, { splitBytes: 25 }), false);
  assert.equal(startsNewPart(2, 20, 6, { splitBytes: 25 }), true);
  assert.equal(startsNewPart(1_000_000, 1e12, 1, {}), false);
});

test('parts concatenate to exactly the input lines, stay within both limits, and match their manifest', async () => {
  await fc.assert(
    fc.asyncProperty(
      inputArb,
      fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
      fc.option(fc.integer({ min: 2, max: 3000 }), { nil: undefined }),
      // Small write buffers make lines span and exceed the coalescing chunk.
      fc.constantFrom(16, 200, 1 << 20),
      // On the writer thread (shared-memory chunks, hashed there) or on this one.
      fc.boolean(),
      async (lines, splitLines, bytesLimit, writeBufferBytes, writerThread) => {
        // Never below the longest line: that case is the E_LINE_TOO_LARGE test's.
        const splitBytes = bytesLimit === undefined ? undefined : Math.max(bytesLimit, ...lines.map((l) => byteLen(l) + 1));
        await withTmp(async (dir) => {
          const base = join(dir, 'out.jsonl');
          const out = linesToParts({ path: base, splitLines, splitBytes, writeBufferBytes, writerThread });
          await pipeline(Readable.from(lines, { objectMode: true }), out);
          const { manifest, parts } = await readRun(dir, base);
          assert.deepEqual(await out.result, manifest);
          const expected = Buffer.concat(lines.map((l) => Buffer.concat([Buffer.from(l), Buffer.from('\n')])));
          assert.deepEqual(Buffer.concat(parts), expected);
          assert.equal(manifest.lines, lines.length);
          for (const [i, p] of manifest.parts.entries()) {
            assert.ok(p.lines > 0);
            if (splitLines !== undefined) assert.ok(p.lines <= splitLines);
            if (splitBytes !== undefined) assert.ok(p.bytes <= splitBytes);
            // Greedy: a part was cut only because the next line would not fit.
            const next = manifest.parts[i + 1];
            if (next !== undefined) {
              const nextLine = byteLen(lines[next.firstLine - 1]) + 1;
              assert.ok(startsNewPart(p.lines, p.bytes, nextLine, { splitLines, splitBytes }));
            }
          }
        });
      },
    ),
    { numRuns: 60 },
  );
});

test('two runs over the same lines write identical parts and manifests', async () => {
  await withTmp(async (dir) => {
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ custom_id: `doc-${i}`, body: { text: '文'.repeat(i % 37) } }));
    const runs: Buffer[][] = [];
    for (const name of ['a', 'b']) {
      const sub = join(dir, name);
      await mkdir(sub);
      await pipeline(Readable.from(lines), linesToParts({ path: join(sub, 'out.jsonl'), splitLines: 70, splitBytes: 2000 }));
      const files = (await readdir(sub)).sort();
      runs.push(await Promise.all(files.map((f) => readFile(join(sub, f)))));
    }
    assert.ok(runs[0].length > 3);
    assert.deepEqual(runs[0], runs[1]);
  });
});

test('an error mid-stream leaves no part, no manifest and no temp file', async () => {
  for (const writerThread of [false, true]) {
    await withTmp(async (dir) => {
      const lines = Array.from({ length: 300 }, (_, i) => `{"custom_id":"r${i}"}`);
      const out = linesToParts({ path: join(dir, 'out.jsonl'), splitLines: 50, writerThread, writeBufferBytes: 256 });
      await assert.rejects(pipeline(failingAfter(lines), out), isCode('E_JSONL_PARSE'));
      await assert.rejects(out.result, isCode('E_JSONL_PARSE'));
      assert.deepEqual(await readdir(dir), []);
    });
  }
});

test('the writer thread reports a failing write (ENOSPC) as the stream error and closes its fd', async () => {
  const thread = startFileWriterThread();
  try {
    const fd = openSync('/dev/full', 'w');
    const sink = thread.sink(fd, 1024);
    sink.on('error', () => {});
    sink.write(Buffer.from(new SharedArrayBuffer(4096)));
    sink.end();
    await assert.rejects(finished(sink), /ENOSPC|no space/i);
    assert.throws(() => fstatSync(fd), { code: 'EBADF' });
  } finally {
    await thread.close();
  }
});

test('an error mid-stream leaves an earlier run untouched', async () => {
  await withTmp(async (dir) => {
    const base = join(dir, 'out.jsonl');
    await pipeline(Readable.from(['{"a":1}', '{"a":2}', '{"a":3}']), linesToParts({ path: base, splitLines: 1 }));
    const before = await readRun(dir, base);
    await assert.rejects(pipeline(failingAfter(['{"b":1}', '{"b":2}']), linesToParts({ path: base, splitLines: 1 })));
    assert.deepEqual(await readRun(dir, base), before);
  });
});

test('a line larger than splitBytes is E_LINE_TOO_LARGE naming its line, and nothing is left', async () => {
  await withTmp(async (dir) => {
    const lines = ['{"a":1}', '{"a":2}', `{"a":"${'y'.repeat(100)}"}`, '{"a":4}'];
    await assert.rejects(
      pipeline(Readable.from(lines), linesToParts({ path: join(dir, 'out.jsonl'), splitBytes: 50 })),
      (e: unknown) => isCode('E_LINE_TOO_LARGE')(e) && (e as ArkBatchError).line === 3,
    );
    assert.deepEqual(await readdir(dir), []);
  });
});

test('a line that exactly fills splitBytes with its newline fits', async () => {
  await withTmp(async (dir) => {
    const base = join(dir, 'out.jsonl');
    await pipeline(Readable.from(['abcd', 'efgh', 'ij']), linesToParts({ path: base, splitBytes: 5 }));
    const { manifest } = await readRun(dir, base);
    assert.deepEqual(manifest.parts.map((p) => p.bytes), [5, 5, 3]);
  });
});

test('a successful run removes higher-numbered parts left by an earlier, longer run', async () => {
  await withTmp(async (dir) => {
    const base = join(dir, 'out.jsonl');
    await pipeline(Readable.from(['1', '2', '3', '4']), linesToParts({ path: base, splitLines: 1 }));
    await pipeline(Readable.from(['1', '2']), linesToParts({ path: base, splitLines: 1 }));
    const { manifest } = await readRun(dir, base);
    assert.equal(manifest.parts.length, 2);
  });
});

test('no lines give a manifest with no parts', async () => {
  await withTmp(async (dir) => {
    const base = join(dir, 'out.jsonl');
    await pipeline(Readable.from([]), linesToParts({ path: base, splitLines: 10 }));
    const { manifest } = await readRun(dir, base);
    assert.deepEqual(manifest, { version: 1, parts: [], lines: 0, bytes: 0 });
  });
});

test('destroying the writable without an error aborts: result rejects with E_ABORTED, files removed', async () => {
  await withTmp(async (dir) => {
    const out = linesToParts({ path: join(dir, 'out.jsonl'), splitLines: 2 });
    for (let i = 0; i < 7; i++) out.write(`{"i":${i}}`);
    await new Promise((resolve) => setImmediate(resolve));
    out.destroy();
    await assert.rejects(out.result, isCode('E_ABORTED'));
    await new Promise((resolve) => out.once('close', resolve));
    assert.deepEqual(await readdir(dir), []);
  });
});

test('a line containing a newline is refused', async () => {
  await withTmp(async (dir) => {
    await assert.rejects(pipeline(Readable.from(['ok', 'a\nb']), linesToParts({ path: join(dir, 'out.jsonl') })), isCode('E_USAGE'));
    assert.deepEqual(await readdir(dir), []);
  });
});

test('bad limits are usage errors', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => linesToParts({ path: 'out.jsonl', splitLines: bad }), isCode('E_USAGE'));
    assert.throws(() => linesToParts({ path: 'out.jsonl', splitBytes: bad }), isCode('E_USAGE'));
  }
});

test('a write waits for the file stream to accept the line before the next is taken', async () => {
  await withTmp(async (dir) => {
    const writer = createPartsWriter({ path: join(dir, 'out.jsonl'), writeBufferBytes: 64 });
    assert.equal(writer.write('small'), null, 'a line under the buffer is accepted at once');
    const pending = writer.write('z'.repeat(1000));
    assert.ok(pending instanceof Promise, 'a line past the buffer makes the caller wait for drain');
    await pending;
    const manifest = await writer.finish();
    assert.equal(manifest.bytes, 6 + 1001);
  });
});

test('linesToFile writes exactly the lines to the file and reports its sha256', async () => {
  await withTmp(async (dir) => {
    const path = join(dir, 'batch.jsonl');
    const lines = ['{"custom_id":"a"}', Buffer.from('{"custom_id":"中"}'), ''];
    const out = linesToFile({ path });
    await pipeline(Readable.from(lines), out);
    const bytes = await readFile(path);
    assert.equal(bytes.toString(), '{"custom_id":"a"}\n{"custom_id":"中"}\n\n');
    assert.deepEqual(await out.result, { file: 'batch.jsonl', lines: 3, bytes: bytes.length, sha256: sha256(bytes), firstLine: 1 });
    assert.deepEqual(await readdir(dir), ['batch.jsonl']);
  });
});

test('linesToFile with no lines writes an empty file', async () => {
  await withTmp(async (dir) => {
    const path = join(dir, 'empty.jsonl');
    await pipeline(Readable.from([]), linesToFile({ path }));
    assert.equal((await readFile(path)).length, 0);
  });
});

test('a failed linesToFile run keeps the old file as it was and leaves no temp file', async () => {
  await withTmp(async (dir) => {
    const path = join(dir, 'batch.jsonl');
    await writeFile(path, 'old\n');
    await assert.rejects(pipeline(failingAfter(['new1', 'new2']), linesToFile({ path })), isCode('E_JSONL_PARSE'));
    assert.equal(await readFile(path, 'utf8'), 'old\n');
    assert.deepEqual(await readdir(dir), ['batch.jsonl']);
  });
});

test('writing into a missing directory is E_IO naming the file', async () => {
  await withTmp(async (dir) => {
    const path = join(dir, 'no-such-dir', 'out.jsonl');
    await assert.rejects(pipeline(Readable.from(['a', 'b']), linesToParts({ path })), (e: unknown) => isCode('E_IO')(e) && (e as ArkBatchError).file === partPath(path, 1));
    assert.deepEqual(await readdir(dir), []);
  });
});

test('the core writer refuses a write while the previous one is still pending', async () => {
  await withTmp(async (dir) => {
    const writer = createPartsWriter({ path: join(dir, 'out.jsonl'), splitLines: 1 });
    assert.equal(writer.write('a'), null);
    const rotating = writer.write('b');
    assert.ok(rotating instanceof Promise);
    assert.throws(() => writer.write('c'), isCode('E_USAGE'));
    await assert.rejects(writer.finish(), isCode('E_USAGE'));
    await rotating;
    const next = writer.write('c');
    assert.ok(next instanceof Promise);
    await writer.abort();
    await assert.rejects(next, isCode('E_ABORTED'));
    assert.deepEqual(await readdir(dir), []);
  });
});
