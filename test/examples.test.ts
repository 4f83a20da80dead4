import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

test('the README quick-start command runs the whole chain locally and writes what the README shows', async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const command = /npm ci && npx ark-batch (run [^\n]+)/.exec(readme)![1]!;
  const args = command.match(/'[^']*'|\S+/g)!.map((a) => a.replace(/^'|'$/g, ''));
  // In a scratch copy, so the run's state and output stay out of the repository.
  const dir = await mkdtemp(join(tmpdir(), 'readme-run-'));
  try {
    await mkdir(join(dir, 'examples'));
    await copyFile(join(root, 'examples', 'reviews.csv'), join(dir, 'examples', 'reviews.csv'));
    const { stderr } = await run(process.execPath, [join(root, 'bin', 'ark-batch.js'), ...args], { cwd: dir });
    const shown = readme.split('```text\n')[1]!.split('```')[0]!.trim().split('\n');
    for (const line of shown) {
      const pattern = new RegExp('^' + line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('…', '.*').replace(/bi-\d{14}-[a-z0-9]{5}/, 'bi-\\d{14}-[a-z0-9]{5}') + '$', 'm');
      assert.match(stderr, pattern, `README line is real: ${line}`);
    }
    const joined = await readFile(join(dir, 'examples', 'reviews.joined.csv'), 'utf8');
    const csvShown = readme.split('```text\n')[2]!.split('```')[0]!.trim().split('\n');
    for (const line of csvShown) assert.ok(joined.includes(line + '\n'), `README CSV line is real: ${line}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
