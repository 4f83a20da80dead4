import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { detectFormat, sniffFormat, sniffStream } from '../lib/sources/format.ts';
import type { SourceFormat } from '../lib/sources/format.ts';
import { ArkBatchError, exitCodeFor } from '../lib/errors.ts';
import { cutsArb, splitAt } from './helpers/chunking.ts';

const enc = (s: string) => Buffer.from(s, 'utf8');

test('the format comes from the extension, case-insensitively, for paths and tos:// URIs', () => {
  const cases: [string, SourceFormat][] = [
    ['reviews.csv', 'csv'],
    ['dir.v2/REVIEWS.CSV', 'csv'],
    ['a.tsv', 'tsv'],
    ['a.jsonl', 'jsonl'],
    ['a.ndjson', 'jsonl'],
    ['a.json', 'json'],
    ['./data/part-0001.parquet', 'parquet'],
    ['tos://bucket/prefix/in.jsonl', 'jsonl'],
    ['C:\\data\\x.Parquet', 'parquet'],
    ['名字 with space.json', 'json'],
  ];
  for (const [path, format] of cases) assert.equal(detectFormat(path), format, path);
});

test('an explicit --from wins over the extension and over sniffing', () => {
  assert.equal(detectFormat('data.csv', 'tsv'), 'tsv');
  assert.equal(detectFormat('noext', 'jsonl'), 'jsonl');
  assert.equal(detectFormat('-', 'csv', enc('[1]')), 'csv');
});

test('an unknown, missing or compressed extension is a usage error that says what to do', () => {
  const usage = (path: string, message: RegExp) =>
    assert.throws(
      () => detectFormat(path),
      (err) => {
        assert.ok(err instanceof ArkBatchError);
        assert.equal(err.code, 'E_USAGE');
        assert.equal(exitCodeFor(err), 2);
        assert.match(err.message, message);
        return true;
      },
    );
  usage('notes.txt', /extension "\.txt".*--from csv\|tsv\|jsonl\|json\|parquet/);
  usage('README', /no extension/);
  usage('.csv', /no extension/);
  usage('data.csv.gz', /compressed input \(\.gz\) is not supported yet/);
  usage('tos://b/k.jsonl.zst', /compressed input/);
  assert.throws(() => detectFormat('a.csv', 'xlsx' as SourceFormat), /Expected --from to be one of csv, tsv, jsonl, json, parquet, got "xlsx"/);
});

test('stdin without --from needs its first bytes', () => {
  assert.throws(() => detectFormat('-'), { code: 'E_USAGE' });
  assert.equal(detectFormat('-', undefined, enc('{"a":1}\n')), 'jsonl');
});

test('sniffing: PAR1 is parquet, [ is json, { is jsonl after BOM and whitespace, anything else csv', () => {
  assert.equal(sniffFormat(enc('PAR1\x15\x04')), 'parquet');
  assert.equal(sniffFormat(enc('[{"a":1}]')), 'json');
  assert.equal(sniffFormat(enc(' \r\n\t[')), 'json');
  assert.equal(sniffFormat(enc('{"a":1}\n')), 'jsonl');
  assert.equal(sniffFormat(enc('\ufeff\n{"a":1}')), 'jsonl');
  assert.equal(sniffFormat(enc('id,text\n1,hi\n')), 'csv');
  assert.equal(sniffFormat(enc('id\ttext\n')), 'csv');
  assert.equal(sniffFormat(enc('')), 'csv');
  assert.equal(sniffFormat(enc('   ')), 'csv');
  assert.equal(sniffFormat(enc('PAR')), 'csv');
});

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('sniffStream detects the format and replays every byte, however the input is chunked', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('', '\ufeff', '\n\n  ', ' '.repeat(70)),
      fc.constantFrom('[{"a":"中"}]', '{"a":"😀"}\n', 'a,b\n中,文\n', 'PAR1xxxx'),
      cutsArb,
      async (prefix, body, cuts) => {
        const bytes = enc(body.startsWith('PAR1') ? body : prefix + body);
        const { format, stream } = await sniffStream(Readable.from(splitAt(bytes, cuts)));
        assert.equal(format, sniffFormat(bytes));
        assert.deepEqual(await drain(stream), bytes);
      },
    ),
    { numRuns: 100 },
  );
});

test('sniffStream reads only what it needs before handing the stream back', async () => {
  let pulled = 0;
  async function* source() {
    for (let i = 0; i < 100; i++) {
      pulled++;
      yield enc(i === 0 ? '   ' : i === 1 ? '{"n":1}\n' : `{"n":${i}}\n`);
    }
  }
  const { format, stream } = await sniffStream(Readable.from(source()));
  assert.equal(format, 'jsonl');
  assert.ok(pulled <= 4, `pulled ${pulled} chunks`);
  const text = (await drain(stream)).toString();
  assert.equal(text, '   ' + Array.from({ length: 99 }, (_, i) => `{"n":${i + 1}}\n`).join(''));
});

test('sniffStream gives an empty input back as csv with no bytes', async () => {
  const { format, stream } = await sniffStream(Readable.from([]));
  assert.equal(format, 'csv');
  assert.equal((await drain(stream)).length, 0);
});
