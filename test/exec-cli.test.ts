import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ark-batch-exec-cli-'));
after(() => fs.rm(dir, { recursive: true, force: true }));

const cli = fileURLToPath(new URL('./fixtures/exec-cli.ts', import.meta.url));
// Resolved here, so the child can run in a temp dir where `--import tsx` would not resolve.
const tsx = import.meta.resolve('tsx');

function exec(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', tsx, cli, 'exec', ...args], { cwd: dir, env: { ...process.env, ARK_API_KEY: '', ARK_BASE_URL: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

test('exec --local runs a batch against the embedded service: RESULTS, derived ERRORS path, JSON summary, located refusals', async () => {
  const lines = [
    JSON.stringify({ custom_id: 'a', body: { messages: [{ role: 'user', content: '你好 😀' }] } }),
    'not json',
    JSON.stringify({ custom_id: 'b', body: { stream: true, messages: [{ role: 'user', content: 'x' }] } }),
    JSON.stringify({ custom_id: 'c', body: { messages: [{ role: 'user', content: 'no [[fail:AccessDenied]]' }] } }),
  ];
  await fs.writeFile(path.join(dir, 'batch.jsonl'), lines.join('\n') + '\n');
  const run = await exec(['batch.jsonl', '--model', 'ep-bi-local', '-o', 'out.jsonl', '--local', '--max-rejects', 'all', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.succeeded, 1);
  assert.equal(summary.failed, 1);
  assert.equal(summary.rejected, 2);
  assert.equal(summary.errorsPath, 'out.errors.jsonl');
  const results = (await fs.readFile(path.join(dir, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const errors = (await fs.readFile(path.join(dir, 'out.errors.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(results.map((r) => r.custom_id), ['a']);
  assert.equal(results[0].response.body.choices[0].message.content, 'echo: 你好 😀');
  assert.deepEqual(errors.map((e) => e.custom_id).sort(), ['b', 'c']);

  // Rerunning the same command finishes at once: everything is already there.
  const again = await exec(['batch.jsonl', '--model', 'ep-bi-local', '-o', 'out.jsonl', '--local', '--max-rejects', 'all', '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).skipped, 3);
  assert.equal(JSON.parse(again.stdout).rejected, 1, 'only the line without a custom_id is refused again');
  assert.match(again.stderr, /batch.jsonl:2: E_JSONL_PARSE/);
});

test('exec without ARK_API_KEY (and without --local) is a config error, exit 2, naming the variable', async () => {
  await fs.writeFile(path.join(dir, 'one.jsonl'), JSON.stringify({ custom_id: 'a', body: { messages: [] } }) + '\n');
  const run = await exec(['one.jsonl', '--model', 'ep-bi-x', '-o', 'one.out.jsonl']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /ARK_API_KEY/);
});
