import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import fc from 'fast-check';
import { createReadAhead } from '../lib/streams/read-ahead.ts';
import { withTmpDir } from './helpers/tmp.ts';

async function readAll(path: string, chunkBytes: number): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const c of createReadAhead(path, { chunkBytes })) chunks.push(c as Buffer);
  return chunks;
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

test('read-ahead yields the file bytes in order, in chunks of at most chunkBytes', async () => {
  await withTmpDir('ark-read-ahead-', async (dir) => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 700 }), async (bytes, chunkBytes) => {
        const path = join(dir, 'f.bin');
        writeFileSync(path, bytes);
        const chunks = await readAll(path, chunkBytes);
        assert.deepEqual(Buffer.concat(chunks), Buffer.from(bytes));
        assert.ok(chunks.every((c) => c.length > 0 && c.length <= chunkBytes));
      }),
      { numRuns: 150 },
    );
  });
});

test('read-ahead reads a FIFO (no positions, short reads) to its end', { skip: process.platform === 'win32' }, async () => {
  await withTmpDir('ark-read-ahead-', async (dir) => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', `for i in 1 2 3 4 5; do printf 'line %s\\n' $i; sleep 0.02; done > '${fifo}'`]);
    const closed = once(writer, 'close');
    const chunks = await readAll(fifo, 4096);
    await closed;
    assert.equal(Buffer.concat(chunks).toString(), [1, 2, 3, 4, 5].map((i) => `line ${i}\n`).join(''));
  });
});

test('a missing file is an ENOENT error; destroying mid-file closes the file', async () => {
  await assert.rejects(readAll('/nonexistent/ark-batch/x.csv', 16), { code: 'ENOENT' });
  await withTmpDir('ark-read-ahead-', async (dir) => {
    const path = join(dir, 'big.bin');
    writeFileSync(path, Buffer.alloc(1 << 20, 7));
    const before = openFds();
    const stream = createReadAhead(path, { chunkBytes: 1024 });
    let seen = 0;
    stream.on('data', (c: Buffer) => {
      seen += c.length;
      if (seen >= 4096) stream.destroy();
    });
    if (!stream.closed) await once(stream, 'close');
    assert.ok(seen >= 4096 && seen < 1 << 20);
    // The fd is closed once the read in flight is over.
    for (let i = 0; i < 50 && openFds() > before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(openFds(), before);
  });
});

test('a consumer that reads inside push (paused mode, read() in readable) gets every byte', async () => {
  await withTmpDir('ark-read-ahead-', async (dir) => {
    const path = join(dir, 'f.bin');
    const bytes = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i % 251));
    writeFileSync(path, bytes);
    const stream = createReadAhead(path, { chunkBytes: 777 });
    const got: Buffer[] = [];
    stream.on('readable', () => {
      for (let c = stream.read() as Buffer | null; c !== null; c = stream.read() as Buffer | null) got.push(c);
    });
    await once(stream, 'end');
    assert.deepEqual(Buffer.concat(got), bytes);
  });
});

test('chunks given back are read into again, and the bytes still come in order', async () => {
  await withTmpDir('ark-read-ahead-', async (dir) => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 4 }), async (bytes, chunkBytes, depth) => {
        const path = join(dir, 'f.bin');
        writeFileSync(path, bytes);
        const stream = createReadAhead(path, { chunkBytes, depth });
        const copies: Buffer[] = [];
        const seen = new Set<ArrayBufferLike>();
        for await (const c of stream) {
          const chunk = c as Buffer;
          copies.push(Buffer.from(chunk));
          seen.add(chunk.buffer);
          stream.recycle(chunk);
          // Given back twice, or a buffer that is not the stream's: ignored.
          stream.recycle(chunk);
          stream.recycle(Buffer.alloc(chunkBytes));
        }
        assert.deepEqual(Buffer.concat(copies), Buffer.from(bytes));
        // Memory is reused: no more distinct buffers than reads in flight plus the free list.
        assert.ok(seen.size <= depth + 3, `${seen.size} buffers for depth ${depth}`);
      }),
      { numRuns: 150 },
    );
  });
});

test('a file that grows while it is read is read to its new end, whatever the depth', async () => {
  await withTmpDir('ark-read-ahead-', async (dir) => {
    for (const depth of [1, 2, 3]) {
      const path = join(dir, `grow-${depth}.bin`);
      const first = Buffer.from('0123456789'.repeat(5));
      writeFileSync(path, first);
      const stream = createReadAhead(path, { chunkBytes: 32, depth });
      const chunks: Buffer[] = [];
      let grown = false;
      for await (const c of stream) {
        chunks.push(Buffer.from(c as Buffer));
        if (!grown) {
          // The 18-byte tail of the first 50 is a short read; what is appended now comes after it.
          grown = true;
          appendFileSync(path, 'abcdefghij'.repeat(4));
        }
      }
      const all = Buffer.concat(chunks).toString();
      assert.ok(all === first.toString() + 'abcdefghij'.repeat(4) || all === first.toString(), `depth ${depth}: ${all}`);
      // No byte is skipped or repeated: what was read is a prefix of the file.
      assert.ok((first.toString() + 'abcdefghij'.repeat(4)).startsWith(all), `depth ${depth}: ${all}`);
    }
  });
});
