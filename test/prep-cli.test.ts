import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'ark-batch.js');
const FIXTURES = join(import.meta.dirname, 'fixtures', 'prep');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface Case {
  name: string;
  args: string[];
  exit?: number;
  stderr?: string;
  rejects?: boolean;
}

/** Runs the CLI as a user would; never throws on a non-zero exit. */
export async function cli(args: string[], options: { cwd?: string; input?: string } = {}) {
  const child = run(process.execPath, [BIN, ...args], { cwd: options.cwd ?? FIXTURES, maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: '1' } });
  if (options.input !== undefined) child.child.stdin!.end(options.input);
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const cases = JSON.parse(await readFile(join(FIXTURES, 'cases.json'), 'utf8')) as Case[];

test('golden prep cases: each fixture command gives its expected lines, rejects and exit code', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'prep-golden-'));
  try {
    await Promise.all(
      cases.map(async (c) => {
        const rejects = join(dir, `${c.name}.rejects.jsonl`);
        const r = await cli(['prep', ...c.args].map((a) => a.replace('{rejects}', rejects)));
        assert.equal(r.code, c.exit ?? 0, `${c.name}: exit code (stderr: ${r.stderr})`);
        if (c.stderr) assert.ok(r.stderr.includes(c.stderr), `${c.name}: stderr ${JSON.stringify(r.stderr)}`);
        if ((c.exit ?? 0) !== 0) {
          assert.equal(r.stdout, '', `${c.name}: nothing on stdout after a failure… (got ${r.stdout.length} bytes)`);
          return;
        }
        const expectedPath = join(FIXTURES, `${c.name}.expected.jsonl`);
        if (UPDATE) await writeFile(expectedPath, r.stdout);
        assert.equal(r.stdout, await readFile(expectedPath, 'utf8'), `${c.name}: lines`);
        if (c.rejects) {
          const expectedRejects = join(FIXTURES, `${c.name}.rejects.expected.jsonl`);
          if (UPDATE) await writeFile(expectedRejects, await readFile(rejects));
          assert.equal(await readFile(rejects, 'utf8'), await readFile(expectedRejects, 'utf8'), `${c.name}: rejects`);
        }
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

async function withDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'prep-cli-'));
  try {
    return await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('prep | validate: what prep writes, validate accepts; stdin is sniffed', async () => {
  const csv = await readFile(join(FIXTURES, 'docs.csv'), 'utf8');
  const prepped = await cli(['prep', '-', '--id', 'doc_id', '--user', '{{body}}', '--quiet'], { input: csv });
  assert.equal(prepped.code, 0, prepped.stderr);
  assert.equal(prepped.stderr, '');
  const checked = await cli(['validate', '-'], { input: prepped.stdout });
  assert.equal(checked.code, 0, checked.stdout);
  assert.equal(checked.stdout, '');
  assert.match(checked.stderr, /validate: stdin: valid — 3 lines, .*3 unique ids, ~\d+ input tokens/);
});

test('validate lists every problem with file and line, and exits 1', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'batch.jsonl');
    const good = (id: string) => JSON.stringify({ custom_id: id, body: { messages: [{ role: 'user', content: 'hi' }] } });
    await writeFile(file, [good('a'), '{not json', good('a'), JSON.stringify({ custom_id: 'b', body: { messages: [], stream: true } }), '', good('c')].join('\n') + '\n');
    const r = await cli(['validate', file]);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 4, r.stdout);
    assert.match(lines[0]!, /batch\.jsonl:2: E_JSONL_PARSE Line is not JSON/);
    assert.match(lines[1]!, /batch\.jsonl:3: E_ID_DUPLICATE custom_id "a" duplicates line 1 \(custom_id=a\)/);
    assert.match(lines[2]!, /batch\.jsonl:4: E_BODY_INVALID body\.messages must NOT have fewer than 1 items \(custom_id=b\)/);
    assert.match(lines[3]!, /batch\.jsonl:5: E_LINE_NOT_OBJECT Line is empty/);
    const json = await cli(['validate', file, '--json']);
    const summary = JSON.parse(json.stdout);
    assert.equal(summary.valid, false);
    assert.equal(summary.lines, 6);
    assert.equal(summary.ids, 2);
    assert.equal(summary.problems, 4);
    assert.deepEqual(summary.details.map((d: { line: number; code: string }) => [d.line, d.code]), [[2, 'E_JSONL_PARSE'], [3, 'E_ID_DUPLICATE'], [4, 'E_BODY_INVALID'], [5, 'E_LINE_NOT_OBJECT']]);
    assert.equal(summary.bytes, (await readFile(file)).length);
  });
});

test('--split-lines writes parts and a manifest; --shard K/N partitions the rows', async () => {
  await withDir(async (dir) => {
    const rows = ['id,text', ...Array.from({ length: 25 }, (_, i) => `k${i},text ${i}`)].join('\n');
    await writeFile(join(dir, 'in.csv'), rows);
    const r = await cli(['prep', 'in.csv', '--id', 'id', '--user', '{{text}}', '--split-lines', '10', '-o', 'out.jsonl', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.written, 25);
    assert.deepEqual(summary.manifest.parts.map((p: { lines: number }) => p.lines), [10, 10, 5]);
    assert.deepEqual((await readdir(dir)).sort(), ['in.csv', 'out-00001.jsonl', 'out-00002.jsonl', 'out-00003.jsonl', 'out.manifest.json']);
    const ids = new Set<string>();
    for (const shard of ['1/2', '2/2']) {
      const s = await cli(['prep', 'in.csv', '--id', 'id', '--user', '{{text}}', '--shard', shard, '-q'], { cwd: dir });
      assert.equal(s.code, 0, s.stderr);
      for (const line of s.stdout.trim().split('\n').filter(Boolean)) {
        const id = JSON.parse(line).custom_id as string;
        assert.ok(!ids.has(id), `${id} is in one shard only`);
        ids.add(id);
      }
    }
    assert.equal(ids.size, 25);
  });
});

test('a failed prep leaves no output file behind', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'in.csv'), 'id,text\na,x\na,y\n');
    const r = await cli(['prep', 'in.csv', '--id', 'id', '--user', '{{text}}', '-o', 'out.jsonl'], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /in\.csv:3: E_ID_DUPLICATE custom_id duplicates row 1 \(custom_id=a\)/);
    assert.deepEqual(await readdir(dir), ['in.csv']);
  });
});

test('prep reads Parquet, from a file and spooled from stdin', async () => {
  const parquet = join(import.meta.dirname, 'fixtures', 'parquet', 'rows.snappy.parquet');
  const fromFile = await cli(['prep', parquet, '--id', 'id', '--user', '{{name}}', '-q']);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  const lines = fromFile.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 10);
  assert.deepEqual(lines[1], { custom_id: '2', body: { messages: [{ role: 'user', content: '你好，世界' }] } });
  const child = execFile(process.execPath, [BIN, 'prep', '-', '--id', 'id', '--user', '{{name}}', '-q'], { encoding: 'utf8' });
  const out = new Promise<string>((resolve) => {
    let s = '';
    child.stdout!.on('data', (d: string) => (s += d));
    child.on('close', () => resolve(s));
  });
  child.stdin!.end(await readFile(parquet));
  assert.equal(await out, fromFile.stdout);
});

test('stdout closed early (| head) ends quietly with status 0', async () => {
  const { spawn } = await import('node:child_process');
  const rows = ['id,text', ...Array.from({ length: 50_000 }, (_, i) => `k${i},some text ${i}`)].join('\n');
  const child = spawn(process.execPath, [BIN, 'prep', '-', '--user', '{{text}}', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.once('data', () => child.stdout.destroy());
  child.stdin.on('error', () => {});
  child.stdin.end(rows);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');
});

test('Ctrl-C stops prep with status 130 and leaves no output or temp file', async () => {
  await withDir(async (dir) => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [BIN, 'prep', '-', '--from', 'csv', '--user', '{{t}}', '-o', 'out.jsonl', '-q'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Enough for the writer to flush a first batch into its temp file; stdin stays open, so prep
    // is mid-stream when the signal arrives.
    child.stdin.on('error', () => {}); // EPIPE once the child is gone: expected here
    child.stdin.write('t\n' + 'some text\n'.repeat(300_000));
    const deadline = Date.now() + 60_000;
    while ((await readdir(dir)).length === 0) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no temp file appeared: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /SIGINT, stopping and cleaning up/);
    assert.deepEqual(await readdir(dir), []);
  });
});
