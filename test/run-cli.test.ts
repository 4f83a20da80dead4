import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'ark-batch.js');

function sourceCsv(n: number): string {
  const rows = ['id,text'];
  for (let i = 1; i <= n; i++) rows.push(`d${i},"text ${i}${i % 10 === 0 ? ' [[fail:InvalidParameter]]' : ''}, 中文"`);
  return rows.join('\n') + '\n';
}

const args = ['run', 'in.csv', '--id', 'id', '--user', 'Label: {{text}}', '--local', '-o', 'out.csv'];

async function jobsIn(dir: string): Promise<string[]> {
  const { stdout } = await run(process.execPath, [BIN, 'list', '--local', '--json'], { cwd: dir });
  return (JSON.parse(stdout) as { Id: string }[]).map((j) => j.Id);
}

test('run --local: 1,000 rows end to end, every row answered or failed, counts reconcile', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'run-cli-'));
  try {
    await writeFile(join(dir, 'in.csv'), sourceCsv(1000));
    const first = await run(process.execPath, [BIN, ...args], { cwd: dir });
    assert.match(first.stderr, /join: 1000 rows → 900 ok, 100 error, 0 missing; out\.csv/);
    const rows = parse(await readFile(join(dir, 'out.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 1000);
    rows.forEach((r, i) => {
      assert.equal(r.id, `d${i + 1}`, 'source order');
      if ((i + 1) % 10 === 0) assert.deepEqual([r.status, r.error_code], ['error', 'InvalidParameter']);
      else assert.deepEqual([r.status, r.content], ['ok', `echo: Label: text ${i + 1}, 中文`]);
    });
    const again = await run(process.execPath, [BIN, ...args], { cwd: dir });
    assert.match(again.stderr, /submit: done before, skipped/);
    assert.equal((await jobsIn(dir)).length, 1, 'a rerun submits nothing');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('run killed while waiting continues with the same job and loses no row', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'run-kill-'));
  try {
    await writeFile(join(dir, 'in.csv'), sourceCsv(300));
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Kill once the state file holds the job id, i.e. while the job is being waited for.
    const savedState = async () => {
      const runsDir = join(dir, '.ark-batch', 'runs');
      const file = (await readdir(runsDir).catch(() => [] as string[])).find((f) => f.endsWith('.json'));
      return file ? JSON.parse(await readFile(join(runsDir, file), 'utf8')) : undefined;
    };
    let state: { jobId?: string; done: string[] } | undefined;
    while (!(state = await savedState())?.jobId) {
      if (child.exitCode !== null) throw new Error(`run ended early: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    assert.ok(!state.done.includes('join'), 'killed before the end');
    const resumed = await run(process.execPath, [BIN, ...args], { cwd: dir });
    assert.match(resumed.stderr, /upload: done before, skipped[\s\S]*submit: done before, skipped/);
    assert.match(resumed.stderr, /join: 300 rows → 270 ok, 30 error, 0 missing/);
    assert.deepEqual(await jobsIn(dir), [state.jobId], 'one job only');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
