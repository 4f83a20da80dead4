/**
 * CSV reader throughput: our byte-level parser (core and rowsFromCsv stream) against csv-parse
 * on the same generated file. Each contender runs in its own process so peak RSS is its own.
 *
 *   node --import tsx bench/csv-parser.bench.ts [rows=1000000]
 */
import { createReadStream, existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { parse } from 'csv-parse';
import { createCsvParser, CSV_PARSE_REFERENCE_OPTIONS } from '../lib/sources/csv-parser.ts';
import { rowsFromCsv } from '../transforms/rows-from-csv.ts';
import { generateCsv } from './gen-dataset.ts';

const CONTENDERS = ['core', 'rowsFromCsv', 'csv-parse'] as const;
type Contender = (typeof CONTENDERS)[number];

/** Reads the file through one contender; returns the number of data records seen. */
async function run(contender: Contender, path: string): Promise<number> {
  let rows = 0;
  const input = createReadStream(path, { highWaterMark: 1 << 16 });
  if (contender === 'core') {
    const parser = createCsvParser();
    const onRecord = (): void => void rows++;
    for await (const chunk of input) parser.push(chunk as Buffer, onRecord);
    parser.end(onRecord);
    return rows - 1;
  }
  const parser = contender === 'csv-parse' ? parse({ ...CSV_PARSE_REFERENCE_OPTIONS, from_line: 2 }) : rowsFromCsv();
  // A Writable consumer like the next pipeline stage; `for await` would add a promise per row.
  const sink = new Writable({
    objectMode: true,
    highWaterMark: 1024,
    write(_row, _enc, callback) {
      rows++;
      callback();
    },
  });
  await pipeline(input, parser, sink);
  return rows;
}

async function child(contender: Contender, path: string): Promise<void> {
  const bytes = (await stat(path)).size;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const rows = await run(contender, path);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  // CPU seconds of this process: on a shared machine they say more about one core than wall time.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ contender, rows, bytes, seconds, cpuSeconds, peakRssMb }));
}

async function main(): Promise<void> {
  const rows = Number(process.argv[2] ?? 1_000_000);
  const here = dirname(fileURLToPath(import.meta.url));
  const dataDir = join(here, 'data');
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, `dataset-${rows}-seed1.csv`);
  if (!existsSync(path)) {
    process.stderr.write(`generating ${rows} rows into ${path}\n`);
    await generateCsv({ rows, seed: 1, path });
  }
  const self = fileURLToPath(import.meta.url);
  process.stdout.write(`node ${process.version}, ${rows} rows\n`);
  process.stdout.write(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores\n`);
  process.stdout.write('contender    wall MB/s  CPU MB/s   rows/s (wall)  peak RSS\n');
  for (const contender of CONTENDERS) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--child', contender, path], { encoding: 'utf8' });
    const r = JSON.parse(out) as { rows: number; bytes: number; seconds: number; cpuSeconds: number; peakRssMb: number };
    if (r.rows !== rows) throw new Error(`${contender} saw ${r.rows} rows, expected ${rows}`);
    const mbps = (s: number): string => (r.bytes / 1e6 / s).toFixed(0).padStart(9);
    const rowsPerSec = Math.round(r.rows / r.seconds).toLocaleString('en-US').padStart(15);
    const line = `${contender.padEnd(12)} ${mbps(r.seconds)} ${mbps(r.cpuSeconds)} ${rowsPerSec} ${r.peakRssMb.toFixed(0).padStart(6)} MB\n`;
    process.stdout.write(line);
  }
}

if (process.argv[2] === '--child') await child(process.argv[3] as Contender, process.argv[4]);
else await main();
