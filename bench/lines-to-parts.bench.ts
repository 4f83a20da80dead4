/**
 * The split writer against a naive `createWriteStream` of `line + '\n'` (no parts, no hashes,
 * no temp + rename): 1M batch lines of ~100 bytes, as strings and as Buffers, cut at 20 MiB.
 *
 *   node --import tsx bench/lines-to-parts.bench.ts [lines]
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { linesToParts } from '../transforms/lines-to-parts.ts';

const count = Number(process.argv[2] ?? 1_000_000);

function* lines(asBuffer: boolean): Generator<string | Buffer> {
  for (let i = 0; i < count; i++) {
    const s = `{"custom_id":"doc-${i}","body":{"messages":[{"role":"user","content":"你好 hello world ${i}"}]}}`;
    yield asBuffer ? Buffer.from(s) : s;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'ark-batch-bench-parts-'));
process.stdout.write(`node ${process.version}, ${count} lines, load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs\n`);
process.stdout.write('| case | lines/s (wall) | lines/s (CPU) | MB/s (wall) | parts |\n|---|---|---|---|---|\n');
try {
  for (const name of ['naive writeStream', 'linesToParts strings', 'linesToParts Buffers'] as const) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    let bytes = 0;
    let parts = 1;
    if (name === 'naive writeStream') {
      const out = createWriteStream(join(dir, 'naive.jsonl'));
      await pipeline(Readable.from(lines(false)).map((s: string) => `${s}\n`), out);
      bytes = out.bytesWritten;
    } else {
      const out = linesToParts({ path: join(dir, `${name.split(' ')[1]}.jsonl`), splitBytes: 20 * 1024 * 1024 });
      await pipeline(Readable.from(lines(name.endsWith('Buffers'))), out);
      const manifest = await out.result;
      bytes = manifest.bytes;
      parts = manifest.parts.length;
    }
    const s = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    process.stdout.write(
      `| ${name} | ${Math.round(count / s).toLocaleString('en')} | ${Math.round(count / cpuS).toLocaleString('en')} | ${(bytes / 1e6 / s).toFixed(0)} | ${parts} |\n`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
