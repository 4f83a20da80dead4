import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

test('the README library example runs and writes one valid line per review', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(root, 'examples', 'library.ts')], { cwd: root });
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
  // 12 reviews; one of them spans two physical lines inside quotes.
  assert.equal(lines.length, 12);
  assert.equal(lines[0].custom_id, 'r001');
});

test('the README quick-start command prints what the README shows', async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const command = /npm ci && npx ark-batch (prep [^\n]+)/.exec(readme)![1]!;
  const args = command.match(/'[^']*'|\S+/g)!.map((a) => a.replace(/^'|'$/g, ''));
  const { stdout, stderr } = await run(process.execPath, [join(root, 'bin', 'ark-batch.js'), ...args], { cwd: root });
  const shown = readme.split('```text\n')[1]!.split('\n').filter((l) => l.startsWith('{'));
  assert.ok(shown.length >= 2);
  for (const line of shown) assert.ok(stdout.includes(line + '\n'), `README output line is real: ${line}`);
  assert.match(stderr, /prep: 12 rows read → 12 lines written, 0 rejected/);
});
