/**
 * rowsFromJsonl against a naive baseline (readline + JSON.parse) on generated JSONL in memory.
 *   node --import tsx bench/rows-from-jsonl.bench.ts [rows]
 *
 * Node 20.20, shared AMD EPYC VM (2 vCPU; other jobs running, so ±50% run to run), 200k rows
 * of ~130 B CJK/emoji JSONL, 64 KiB chunks, best of 3 quiet runs:
 *   baseline readline+JSON.parse  510k rows/s  65 MB/s
 *   rowsFromJsonl                 487k rows/s  63 MB/s  (latin1 framing + strict UTF-8: ~5% behind)
 *   rowsFromJson (stream-json)     47k rows/s   6 MB/s  (stream-json tokenising dominates)
 */
import { createInterface } from 'node:readline';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { rowsFromJsonl } from '../transforms/rows-from-jsonl.ts';
import { rowsFromJson } from '../transforms/rows-from-json.ts';

const rows = Number(process.argv[2] ?? 200_000);
const lines: string[] = [];
for (let i = 0; i < rows; i++) {
  lines.push(JSON.stringify({ id: `row-${i}`, text: `评论 ${i}: 这个产品很好用 😀 quality is fine, shipping took ${i % 9} days`, stars: i % 5, tags: ['a', 'b'] }));
}
const jsonl = Buffer.from(lines.join('\n') + '\n');
const json = Buffer.from('[' + lines.join(',\n') + ']');
const chunksOf = (buf: Buffer) => {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += 65536) out.push(buf.subarray(i, i + 65536));
  return out;
};

async function measure(name: string, bytes: number, run: () => Promise<number>): Promise<void> {
  const start = process.hrtime.bigint();
  const count = await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rss = (process.memoryUsage().rss / 1048576).toFixed(0);
  console.log(`${name.padEnd(28)} ${count} rows  ${(count / seconds).toFixed(0).padStart(9)} rows/s  ${(bytes / 1048576 / seconds).toFixed(1).padStart(6)} MB/s  rss ${rss} MB`);
}

const sink = (counter: { n: number }) =>
  new Writable({
    objectMode: true,
    write(_row, _enc, cb) {
      counter.n++;
      cb();
    },
  });

await measure('baseline readline+JSON.parse', jsonl.length, async () => {
  let n = 0;
  for await (const line of createInterface({ input: Readable.from(chunksOf(jsonl)), crlfDelay: Infinity })) {
    if (line.trim()) {
      JSON.parse(line);
      n++;
    }
  }
  return n;
});
await measure('rowsFromJsonl', jsonl.length, async () => {
  const c = { n: 0 };
  await pipeline(Readable.from(chunksOf(jsonl)), rowsFromJsonl(), sink(c));
  return c.n;
});
await measure('rowsFromJson (stream-json)', json.length, async () => {
  const c = { n: 0 };
  await pipeline(Readable.from(chunksOf(json)), rowsFromJson(), sink(c));
  return c.n;
});
