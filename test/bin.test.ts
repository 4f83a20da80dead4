/**
 * The `ark-batch` bin runs the bundle in dist/ (built by `npm ci`) or the sources through tsx,
 * and prep's worker threads start from either. Whatever runs, the bytes are the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const BIN = join(import.meta.dirname, '..', 'bin', 'ark-batch.js');
const run = promisify(execFile);

/** A CSV past the 8 MiB under which prep never starts workers: quoted newlines, quotes, CJK. */
function bigCsv(): string {
  const rows = ['id,text'];
  for (let i = 0; i < 50_000; i++) {
    const text = `row ${i} says "hi" 中文 ${'x'.repeat(i % 300)}${i % 7 === 0 ? '\nsecond line' : ''}`;
    rows.push(`r${i},"${text.replaceAll('"', '""')}"`);
  }
  return `${rows.join('\r\n')}\r\n`;
}

test('prep from the bundle and from the sources, on one thread and on workers, writes the same bytes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ark-batch-bin-'));
  try {
    const csv = join(dir, 'in.csv');
    await writeFile(csv, bigCsv());
    // Large enough for workers and for the output writer thread (8 MiB).
    assert.ok((await stat(csv)).size >= 8 << 20);
    const digests = new Map<string, string>();
    for (const sources of ['0', '1']) {
      for (const threads of ['1', '2']) {
        const out = join(dir, `out-${sources}-${threads}.jsonl`);
        const { stdout } = await run(process.execPath, [BIN, 'prep', csv, '--id', 'id', '--user', 'Q: {{text}}', '-o', out, '--threads', threads, '--json'], {
          env: { ...process.env, ARK_BATCH_SOURCES: sources },
          maxBuffer: 16 << 20,
        });
        const summary = JSON.parse(stdout) as { rowsRead: number; written: number; file: { sha256: string } };
        assert.equal(summary.rowsRead, 50_000);
        assert.equal(summary.written, 50_000);
        const digest = createHash('sha256').update(await readFile(out)).digest('hex');
        // Hashed by the writer thread as it wrote.
        assert.equal(summary.file.sha256, digest);
        digests.set(`sources=${sources} threads=${threads}`, digest);
      }
    }
    assert.equal(new Set(digests.values()).size, 1, JSON.stringify([...digests]));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
