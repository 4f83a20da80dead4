import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parquetMetadata } from 'hyparquet';
import type { AsyncBuffer } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { rowsFromParquet, spoolToTempFile, toJsonValue } from '../lib/sources/parquet.ts';
import { ArkBatchError } from '../lib/errors.ts';
import type { Row } from '../lib/sources/row.ts';
import { buildFixtures } from './fixtures/make-parquet.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'parquet');
const CODECS = { snappy: 'SNAPPY', gzip: 'GZIP', brotli: 'BROTLI', zstd: 'ZSTD', uncompressed: 'UNCOMPRESSED' } as const;

async function all(stream: Readable): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const row of stream) rows.push(row as Row);
  return rows;
}

async function golden(name = 'rows'): Promise<unknown[]> {
  const text = await readFile(join(FIXTURES, `${name}.expected.jsonl`), 'utf8');
  return text.trimEnd().split('\n').map((l) => JSON.parse(l));
}

test('every codec fixture reads back as the golden rows, numbered across row groups', async () => {
  const expected = await golden();
  assert.equal(expected.length, 10);
  for (const label of Object.keys(CODECS)) {
    const rows = await all(rowsFromParquet({ file: join(FIXTURES, `rows.${label}.parquet`) }));
    assert.deepEqual(rows.map((r) => r.record), expected, label);
    assert.deepEqual(rows.map((r) => r.index), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.ok(rows.every((r) => r.line === undefined && r.error === undefined));
  }
});

test('every fixture file matches the golden rows of its case (<case>.<codec>.parquet ↔ <case>.expected.jsonl)', async () => {
  const files = (await readdir(FIXTURES)).filter((f) => f.endsWith('.parquet'));
  assert.ok(files.length >= 6);
  for (const f of files) {
    const rows = await all(rowsFromParquet({ file: join(FIXTURES, f) }));
    assert.deepEqual(rows.map((r) => r.record), await golden(f.split('.')[0]), f);
  }
});

test('the committed fixtures are exactly what make-parquet.ts generates', async () => {
  const built = buildFixtures();
  assert.deepEqual([...built.keys()].sort(), (await readdir(FIXTURES)).sort());
  for (const [name, bytes] of built) assert.ok(Buffer.from(bytes).equals(await readFile(join(FIXTURES, name))), name);
});

test('native structs and lists stay nested, with their values converted too', async () => {
  const rows = await all(rowsFromParquet({ file: join(FIXTURES, 'nested.snappy.parquet') }));
  assert.deepEqual(rows[1].record, { tags: null, point: { x: 2, big: '4611686018427387904', at: null } });
  assert.deepEqual(rows[3].record, { tags: ['😀', null], point: { x: -4, big: -3, at: '2023-11-14T22:13:20.000Z' } });
});

test('the fixtures really hold three row groups compressed with the codec they are named for', async () => {
  for (const [label, codec] of Object.entries(CODECS)) {
    const bytes = await readFile(join(FIXTURES, `rows.${label}.parquet`));
    const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    assert.deepEqual(meta.row_groups.map((g) => Number(g.num_rows)), [4, 4, 2], label);
    for (const group of meta.row_groups) for (const column of group.columns) assert.equal(column.meta_data?.codec, codec);
  }
});

test('the columns option reads only the named columns', async () => {
  const rows = await all(rowsFromParquet({ file: join(FIXTURES, 'rows.snappy.parquet'), columns: ['name', 'id'] }));
  assert.deepEqual(rows[1].record, { name: '你好，世界', id: 2 });
});

test('binaryAsString decodes un-annotated binary as text instead of base64', async () => {
  const rows = await all(rowsFromParquet({ file: join(FIXTURES, 'rows.snappy.parquet'), columns: ['blob'], binaryAsString: true }));
  assert.equal(rows[3].record?.blob, '你');
});

test('values become JSON-friendly: safe BigInt to number, others to decimal strings, dates to ISO, bytes to base64', () => {
  assert.equal(toJsonValue(42n), 42);
  assert.equal(toJsonValue(-9007199254740991n), -9007199254740991);
  assert.equal(toJsonValue(9007199254740992n), '9007199254740992');
  assert.equal(toJsonValue(new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 5))), '2024-02-29T12:00:00.005Z');
  const pooled = Buffer.from([0, 1, 2, 0xfe, 0xff, 9]);
  assert.equal(toJsonValue(pooled.subarray(3, 5)), '/v8=');
  assert.deepEqual(toJsonValue(Int32Array.from([1, -2])), [1, -2]);
  assert.deepEqual(toJsonValue({ a: [{ b: 1n, c: undefined }], d: null }), { a: [{ b: 1, c: null }], d: null });
  const proto = toJsonValue(JSON.parse('{"__proto__":{"polluted":1}}')) as Record<string, unknown>;
  assert.ok(Object.hasOwn(proto, '__proto__'));
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
  fc.assert(
    fc.property(fc.bigInt({ min: -(1n << 64n), max: 1n << 64n }), (n) => {
      const v = toJsonValue(n);
      if (typeof v === 'number') {
        assert.ok(Number.isSafeInteger(v));
        assert.equal(BigInt(v), n);
      } else {
        assert.equal(typeof v, 'string');
        assert.equal(BigInt(v as string), n);
        assert.ok(!Number.isSafeInteger(Number(n)));
      }
    }),
  );
});

function manyGroups(rows: number, groupSize: number): { buffer: ArrayBuffer; ranges: [number, number][] } {
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: 'id', data: Array.from({ length: rows }, (_, i) => i), type: 'INT32' },
      { name: 's', data: Array.from({ length: rows }, (_, i) => `row ${i} 中文 🎉`), type: 'STRING' },
    ],
    rowGroupSize: groupSize,
  });
  const ranges = parquetMetadata(buffer).row_groups.map((g): [number, number] => {
    const starts = g.columns.map((c) => Number(c.meta_data?.dictionary_page_offset ?? c.meta_data?.data_page_offset));
    const ends = g.columns.map((c, i) => starts[i] + Number(c.meta_data?.total_compressed_size));
    return [Math.min(...starts), Math.max(...ends)];
  });
  return { buffer, ranges };
}

/** An AsyncBuffer that records which row groups' bytes were fetched (footer reads excluded). */
function watched(buffer: ArrayBuffer, ranges: [number, number][]): { file: AsyncBuffer; groupsRead: Set<number> } {
  const groupsRead = new Set<number>();
  const file: AsyncBuffer = {
    byteLength: buffer.byteLength,
    slice(start, end = buffer.byteLength) {
      if (end < buffer.byteLength) {
        ranges.forEach(([lo, hi], g) => {
          if (start < hi && end > lo) groupsRead.add(g);
        });
      }
      return Promise.resolve(buffer.slice(start, end));
    },
  };
  return { file, groupsRead };
}

const settle = async () => {
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
};

test('a multi-row-group file is not read ahead: the next row group is fetched only when the consumer wants it', async () => {
  const { buffer, ranges } = manyGroups(500, 100);
  assert.equal(ranges.length, 5);
  const { file, groupsRead } = watched(buffer, ranges);
  const stream = rowsFromParquet({ file, highWaterMark: 4 });
  const it = stream[Symbol.asyncIterator]();
  const take = async (n: number) => {
    const out: Row[] = [];
    for (let i = 0; i < n; i++) out.push((await it.next()).value as Row);
    return out;
  };
  const first = await take(1);
  assert.deepEqual(first[0].record, { id: 0, s: 'row 0 中文 🎉' });
  await settle();
  assert.deepEqual([...groupsRead], [0], 'only the first row group while the consumer is paused');
  await take(149); // rows 2..150: into group 2
  await settle();
  assert.deepEqual([...groupsRead].sort(), [0, 1]);
  const rest = await take(350);
  assert.equal(rest.at(-1)?.index, 500);
  assert.deepEqual(rest.at(-1)?.record, { id: 499, s: 'row 499 中文 🎉' });
  assert.equal((await it.next()).done, true);
  assert.deepEqual([...groupsRead].sort(), [0, 1, 2, 3, 4]);
});

test('destroying the stream stops reading further row groups', async () => {
  const { buffer, ranges } = manyGroups(300, 100);
  const { file, groupsRead } = watched(buffer, ranges);
  const stream = rowsFromParquet({ file, highWaterMark: 1 });
  for await (const row of stream) {
    if ((row as Row).index === 10) break; // break destroys the stream
  }
  await settle();
  assert.deepEqual([...groupsRead], [0]);
  assert.equal(stream.destroyed, true);
});

test('a row group larger than maxRowGroupBytes fails with E_BUFFER_LIMIT before it is read', async () => {
  const { buffer, ranges } = manyGroups(200, 100);
  const { file, groupsRead } = watched(buffer, ranges);
  await assert.rejects(all(rowsFromParquet({ file, name: 'big.parquet', maxRowGroupBytes: 10 })), (err) => {
    assert.ok(err instanceof ArkBatchError);
    assert.equal(err.code, 'E_BUFFER_LIMIT');
    assert.match(err.message, /^big\.parquet:1: E_BUFFER_LIMIT row group 1 is \d+ bytes uncompressed, over maxRowGroupBytes=10/);
    return true;
  });
  assert.equal(groupsRead.size, 0);
});

test('a file that is not Parquet fails with E_PARQUET, a missing one with E_USAGE', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ark-batch-test-'));
  try {
    const notParquet = join(dir, 'x.parquet');
    await writeFile(notParquet, '{"a":1}\n'.repeat(20));
    await assert.rejects(all(rowsFromParquet({ file: notParquet })), (err) => {
      assert.ok(err instanceof ArkBatchError);
      assert.equal(err.code, 'E_PARQUET');
      assert.equal(err.file, notParquet);
      assert.ok(err.cause instanceof Error);
      return true;
    });
    await assert.rejects(all(rowsFromParquet({ file: join(dir, 'missing.parquet') })), { code: 'E_USAGE' });
    assert.throws(() => rowsFromParquet({ file: notParquet, maxRowGroupBytes: 0 }), { code: 'E_USAGE' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a truncated Parquet file fails with E_PARQUET', async () => {
  const bytes = await readFile(join(FIXTURES, 'rows.snappy.parquet'));
  const cut = bytes.subarray(0, bytes.length - 20);
  const file: AsyncBuffer = { byteLength: cut.length, slice: async (s, e) => cut.buffer.slice(cut.byteOffset + s, cut.byteOffset + (e ?? cut.length)) };
  await assert.rejects(all(rowsFromParquet({ file })), { code: 'E_PARQUET' });
});

test('a corrupt row group fails with E_PARQUET naming its first row, after the rows before it', async () => {
  const { buffer, ranges } = manyGroups(300, 100);
  const bytes = new Uint8Array(buffer.slice(0));
  bytes.fill(0xff, ranges[1][0], ranges[1][1]);
  const file: AsyncBuffer = { byteLength: bytes.length, slice: async (s, e) => bytes.buffer.slice(s, e) };
  const seen: number[] = [];
  // highWaterMark 1: a stream that errors drops what it had buffered, so keep nothing buffered.
  await assert.rejects(
    (async () => {
      for await (const row of rowsFromParquet({ file, name: 'c.parquet', highWaterMark: 1 })) seen.push((row as Row).index);
    })(),
    (err) => {
      assert.ok(err instanceof ArkBatchError);
      assert.equal(err.code, 'E_PARQUET');
      assert.equal(err.row, 101);
      assert.match(err.message, /^c\.parquet:101: E_PARQUET cannot read Parquet: /);
      return true;
    },
  );
  assert.equal(seen.length, 100);
});

test('stdin spooled to a temp file reads like the file, and cleanup removes it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ark-batch-test-'));
  try {
    const bytes = await readFile(join(FIXTURES, 'rows.gzip.parquet'));
    const chunks = [bytes.subarray(0, 7), bytes.subarray(7, 1000), bytes.subarray(1000)];
    const spooled = await spoolToTempFile(Readable.from(chunks), { dir });
    assert.deepEqual(await readFile(spooled.path), bytes);
    const rows = await all(rowsFromParquet({ file: spooled.path }));
    assert.deepEqual(rows.map((r) => r.record), await golden());
    await spooled.cleanup();
    await assert.rejects(stat(spooled.path), { code: 'ENOENT' });
    assert.deepEqual(await readdir(dir), []);
    await spooled.cleanup();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a failing input stream rejects the spool and leaves no temp file behind', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ark-batch-test-'));
  try {
    async function* broken() {
      yield Buffer.from('PAR1');
      throw new Error('stdin went away');
    }
    await assert.rejects(spoolToTempFile(Readable.from(broken()), { dir }), /stdin went away/);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
