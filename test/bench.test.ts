import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { project, stats } from '../lib/bench/prep-bench.ts';
import { generateRows } from '../lib/bench/synthetic.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'ark-batch.js');

test('projections: files and jobs needed under each target\'s limits', () => {
  assert.deepEqual(project('ark', 10, 1, 2), { target: 'ark', maxFileBytes: 5 * 1024 ** 3, maxLines: undefined, parts: 1, jobs: 1, seconds: 2 });
  assert.equal(project('ark', 12 * 1024 ** 3, 10, 1).parts, 3);
  assert.equal(project('openai', 1000, 120_000, 1).parts, 3, 'OpenAI: 50,000 lines per file');
  assert.equal(project('openai', 450e6, 10, 1).parts, 3, 'OpenAI: 200 MB per file');
  assert.deepEqual(stats([3, 1, 2]), { median: 2, min: 1, max: 3 });
  assert.deepEqual(stats([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4 });
});

test('the synthetic dataset is seeded: same seed, same rows', () => {
  const a = [...generateRows({ rows: 50, seed: 7 })];
  const b = [...generateRows({ rows: 50, seed: 7 })];
  const c = [...generateRows({ rows: 50, seed: 8 })];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.some((r) => /[\u4e00-\u9fff]/.test(r.text)) && a.some((r) => r.text.includes('"')) && a.some((r) => r.text.includes('\n')));
});

test('bench --synthetic counts every row, writes a well-formed report and chart, and prints JSON', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-cli-'));
  try {
    const report = join(dir, 'out', 'report.md');
    const { stdout } = await run(process.execPath, [BIN, 'bench', '--synthetic', '--rows', '300,700', '--synthetic-format', 'jsonl', '--runs', '1', '--report', report, '--json', '-q']);
    const results = JSON.parse(stdout) as { runs: { rows: number; lines: number }[]; lines: number; inputTokens: number; tokens: string; projection: { parts: number } }[];
    assert.deepEqual(results.map((r) => r.lines), [300, 700]);
    assert.deepEqual(results.map((r) => r.runs[0]!.rows), [300, 700]);
    assert.ok(results.every((r) => r.inputTokens > 0 && r.tokens === 'estimated' && r.projection.parts === 1));
    const md = await readFile(report, 'utf8');
    assert.equal(md.split('\n').filter((l) => l.startsWith('| prep |')).length, 2);
    assert.match(md, /!\[throughput by input size\]\(report\.svg\)/);
    const svg = await readFile(join(dir, 'out', 'report.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((svg.match(/<rect x=/g) ?? []).length, 2);
    assert.match(svg, /<\/svg>\n$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bench on a user source passes the prep flags through and fails clearly on a bad template', async () => {
  const source = join(import.meta.dirname, 'fixtures', 'prep', 'docs.csv');
  const ok = await run(process.execPath, [BIN, 'bench', source, '--id', 'doc_id', '--user', '{{body}}', '--runs', '1', '--json', '-q']);
  assert.equal(JSON.parse(ok.stdout)[0].lines, 3);
  await assert.rejects(run(process.execPath, [BIN, 'bench', source, '--user', '{{nope}}', '--runs', '1', '-q']), (e: { code: number; stderr: string }) => e.code === 2 && /prep failed during the benchmark .*E_TEMPLATE/.test(e.stderr));
});

test('bench --stages prep,upload measures prep alone and prep streamed into a multipart upload to a local serve', async () => {
  const { stdout } = await run(process.execPath, [BIN, 'bench', '--synthetic', '--rows', '400', '--stages', 'prep,upload', '--runs', '1', '--json', '-q'], {
    env: { ...process.env, VOLC_ACCESSKEY: '', VOLC_SECRETKEY: '' },
  });
  const results = JSON.parse(stdout) as { stage: string; lines: number; bytesOut: number; runs: { bytesOut: number }[] }[];
  assert.deepEqual(results.map((r) => r.stage), ['prep', 'upload']);
  assert.deepEqual(results.map((r) => r.lines), [400, 400]);
  assert.equal(results[1]!.runs[0]!.bytesOut, results[0]!.runs[0]!.bytesOut, 'the upload carried every byte prep wrote');
  await assert.rejects(run(process.execPath, [BIN, 'bench', '--synthetic', '--rows', '10', '--stages', 'fly', '-q']), (e: { code: number }) => e.code === 2);
  const source = join(import.meta.dirname, 'fixtures', 'prep', 'docs.csv');
  await assert.rejects(run(process.execPath, [BIN, 'bench', source, '--user', '{{body}}', '--stages', 'join', '-q']), (e: { code: number; stderr: string }) => e.code === 2 && /needs --synthetic/.test(e.stderr));
});

test('bench --stages join joins a seeded shuffled job output back onto every synthetic row', async () => {
  const { stdout } = await run(process.execPath, [BIN, 'bench', '--synthetic', '--rows', '500', '--stages', 'join', '--runs', '1', '--json', '-q']);
  const [r] = JSON.parse(stdout) as { stage: string; lines: number; runs: { rows: number; bytesOut: number }[] }[];
  assert.equal(r!.stage, 'join');
  assert.equal(r!.runs[0]!.rows, 500);
  assert.ok(r!.runs[0]!.bytesOut > 0);
});

test('the bench takes row counts as positive integers and refuses anything else', async () => {
  const { parseArgs } = await import('../bench/prep.bench.ts');
  assert.deepEqual(parseArgs(['1_000', '20', '--only=cli-csv']), [[1000, 20], ['cli csv']]);
  assert.deepEqual(parseArgs([]), [[1_000_000], undefined]);
  for (const bad of ['abc', '0', '-5', '1.5']) assert.throws(() => parseArgs([bad]), /positive integers/);
});
