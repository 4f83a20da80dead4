/**
 * `prep` end to end, CSV and Parquet → JSONL, against a naive baseline, each contender in its
 * own process (so peak RSS is that process's own); the `cli` ones run bin/ark-batch.js as a user
 * does (the dist/ bundle that `npm ci` builds), the others run through tsx:
 *
 * - `cli csv`: `ark-batch prep data.csv --id id --user 'Summarise: {{text}} ({{category}})' --max-tokens 64 -o out.jsonl`
 *   (the fused CSV path, default threads: one preparing thread per CPU but one, and a thread
 *   writing and hashing the output; validation included: schema, line size, custom_id uniqueness);
 * - `cli csv 2 threads`: the same with `--threads 2` (a preparing worker beside the main thread;
 *   the default on a 2-CPU machine is one preparing thread and the output writer thread);
 * - `lib csv`: the same through `prep()` from a script (no CLI start-up: yargs, every command module);
 * - `lib csv per-row`: `prep()` with `fused: false, precompiled: false` — the composable per-row
 *   stages with the reference encoder, i.e. the path before the fast path existed;
 * - `cli parquet`: the same command on a Parquet copy of the data (row groups of 100k);
 * - `naive csv`: csv-parse stream → `JSON.stringify` of the same line → `createWriteStream`
 *   (no validation, no uniqueness, no atomic rename);
 * - `duckdb csv`: DuckDB (`@duckdb/node-api`, every core) reading the CSV and writing the same
 *   lines as JSON (`COPY … TO … (FORMAT JSON)`): no validation either, and its JSON escapes
 *   differ in places (so its sha256 differs), but the work per row is the same.
 *
 * Run: `npm run bench -- [rows…]` or `node --import tsx bench/prep.bench.ts [rows…]` (default
 * 1000000). The datasets are generated into `bench/data/` once. Results go to stdout and into
 * the "prep" section of bench/RESULTS.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse';
import { DATASET_COLUMNS, generateCsv, generateRows } from './gen-dataset.ts';
import { measureCommand } from '../lib/bench/prep-bench.ts';

const here = dirname(fileURLToPath(import.meta.url));
const TEMPLATE = 'Summarise: {{text}} ({{category}})';
const CONTENDERS = ['cli csv', 'cli csv 2 threads', 'lib csv', 'lib csv per-row', 'cli parquet', 'naive csv', 'duckdb csv'] as const;
type Contender = (typeof CONTENDERS)[number];

interface ChildReport {
  readonly userMs: number;
  readonly sysMs: number;
  readonly maxRssKiB: number;
}

interface Result extends ChildReport {
  readonly contender: Contender;
  /** Lines in the output. */
  readonly rows: number;
  readonly inputBytes: number;
  readonly wallMs: number;
  readonly outputSha256: string;
  /** 1-minute load average when the contender started (the machine is shared). */
  readonly load: number;
}

async function ensureDatasets(rows: number, withParquet: boolean): Promise<{ csv: string; parquet: string }> {
  const dir = join(here, 'data');
  mkdirSync(dir, { recursive: true });
  const csv = join(dir, `dataset-${rows}-seed1.csv`);
  const parquet = join(dir, `dataset-${rows}-seed1.parquet`);
  if (!existsSync(csv)) {
    process.stderr.write(`generating ${csv}\n`);
    await generateCsv({ rows, seed: 1, path: csv });
  }
  if (withParquet && !existsSync(parquet)) {
    process.stderr.write(`generating ${parquet}\n`);
    await writeParquet(rows, parquet);
  }
  return { csv, parquet };
}

/** The same rows as the CSV, as Parquet row groups of 100k rows, written group by group. */
async function writeParquet(rows: number, path: string): Promise<void> {
  const { ParquetWriter, fileWriter, schemaFromColumnData } = await import('hyparquet-writer');
  const group = 100_000;
  let writer: InstanceType<typeof ParquetWriter> | undefined;
  let batch = DATASET_COLUMNS.map(() => [] as unknown[]);
  const flush = () => {
    const columnData = DATASET_COLUMNS.map((name, i) => ({ name, data: batch[i]!, type: name === 'int' ? ('INT32' as const) : name === 'float' ? ('DOUBLE' as const) : ('STRING' as const) }));
    writer ??= new ParquetWriter({ writer: fileWriter(path), schema: schemaFromColumnData({ columnData }) });
    writer.write({ columnData, rowGroupSize: group });
    batch = DATASET_COLUMNS.map(() => []);
  };
  for (const row of generateRows({ rows, seed: 1 })) {
    DATASET_COLUMNS.forEach((name, i) => batch[i]!.push(row[name]));
    if (batch[0]!.length === group) flush();
  }
  if (batch[0]!.length > 0) flush();
  writer!.finish();
}

/** Runs one contender in this process (child mode) and prints its report as JSON. */
async function child(contender: Contender, input: string, output: string): Promise<void> {
  if (contender === 'duckdb csv') {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const c = await (await DuckDBInstance.create(':memory:')).connect();
    const q = (v: string) => `'${v.replaceAll("'", "''")}'`;
    await c.run(`
      COPY (
        SELECT id AS custom_id,
          {'messages': [{'role': 'user', 'content': 'Summarise: ' || text || ' (' || category || ')'}], 'max_tokens': 64} AS body
        FROM read_csv(${q(input)}, header = true, all_varchar = true)
      ) TO ${q(output)} (FORMAT JSON)`);
  } else if (contender === 'lib csv' || contender === 'lib csv per-row') {
    const { prep } = await import('../lib/prep.ts');
    const before = contender === 'lib csv per-row';
    await prep({ input, output, id: { column: 'id' }, user: TEMPLATE, params: { max_tokens: 64 }, fused: !before, precompiled: !before });
  } else {
    await pipeline(
      createReadStream(input, { highWaterMark: 1 << 20 }),
      parse({ columns: true }),
      new Transform({
        writableObjectMode: true,
        transform(r: Record<string, string>, _enc, callback) {
          const line = { custom_id: r.id, body: { messages: [{ role: 'user', content: `Summarise: ${r.text} (${r.category})` }], max_tokens: 64 } };
          callback(null, `${JSON.stringify(line)}\n`);
        },
      }),
      createWriteStream(output),
    );
  }
  const cpu = process.cpuUsage();
  const report: ChildReport = { userMs: cpu.user / 1000, sysMs: cpu.system / 1000, maxRssKiB: process.resourceUsage().maxRSS };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

function runChild(contender: Contender, input: string, output: string): Promise<{ report: ChildReport; wallMs: number }> {
  if (isCli(contender)) return runCli(contender, input, output);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', contender, input, output], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${contender} exited with ${code}`));
      resolve({ report: JSON.parse(out.trim().split('\n').at(-1)!) as ChildReport, wallMs: performance.now() - started });
    });
  });
}

function isCli(contender: Contender): boolean {
  return contender.startsWith('cli ');
}

/** The bin as users run it (the bundle from `npm ci`), measured by its own `--json` summary. */
async function runCli(contender: Contender, input: string, output: string): Promise<{ report: ChildReport; wallMs: number }> {
  const threads = contender === 'cli csv 2 threads' ? ['--threads', '2'] : [];
  const m = await measureCommand<object>(['prep', input, '--id', 'id', '--user', TEMPLATE, '--max-tokens', '64', '-o', output, ...threads], { summaryOnStdout: true });
  const r = m.summary.resources;
  return { report: { userMs: r.cpuSeconds * 1000, sysMs: 0, maxRssKiB: r.maxRssBytes / 1024 }, wallMs: m.seconds * 1000 };
}

/** The output's sha256 and line count, read after the child is gone (not counted in its CPU or RSS). */
async function digest(path: string): Promise<{ sha256: string; lines: number }> {
  const h = createHash('sha256');
  let lines = 0;
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const b = c as Buffer;
    h.update(b);
    for (let i = b.indexOf(0x0a); i !== -1; i = b.indexOf(0x0a, i + 1)) lines++;
  }
  return { sha256: h.digest('hex'), lines };
}

async function benchRows(rows: number, contenders: readonly Contender[]): Promise<Result[]> {
  const { csv, parquet } = await ensureDatasets(rows, contenders.includes('cli parquet'));
  const outDir = join(here, 'out');
  mkdirSync(outDir, { recursive: true });
  const results: Result[] = [];
  for (const contender of contenders) {
    const input = contender === 'cli parquet' ? parquet : csv;
    const output = join(outDir, `prep-${contender.replaceAll(' ', '-')}.jsonl`);
    const load = loadavg()[0]!;
    const { report, wallMs } = await runChild(contender, input, output);
    // MB/s are counted on the CSV size for every contender, so the rows are the same work.
    const out = await digest(output);
    const r: Result = { ...report, rows: out.lines, contender, inputBytes: statSync(csv).size, wallMs, outputSha256: out.sha256, load };
    rmSync(output, { force: true });
    results.push(r);
    process.stderr.write(`${format(r)}\n`);
  }
  return results;
}

function cpuOf(r: Result): number {
  return r.userMs + r.sysMs;
}

function format(r: Result): string {
  const cpuS = (r.userMs + r.sysMs) / 1000;
  const mb = r.inputBytes / 1e6;
  return `| ${r.rows.toLocaleString('en-US')} | ${r.contender} | ${Math.round(r.rows / (r.wallMs / 1000)).toLocaleString('en-US')} | ${(mb / (r.wallMs / 1000)).toFixed(0)} | ${(mb / cpuS).toFixed(0)} | ${cpuS.toFixed(2)} | ${(r.wallMs / 1000).toFixed(2)} | ${(r.maxRssKiB / 1024).toFixed(0)} | ${r.outputSha256.slice(0, 8)} | ${r.load.toFixed(1)} |`;
}

const HEADER = '| rows | contender | rows/s (wall) | MB/s (wall) | MB/s (CPU) | CPU s | wall s | peak RSS MiB | output sha256 | load |\n|---:|---|---:|---:|---:|---:|---:|---:|---|---:|';
const START = '<!-- prep-bench:start -->';
const END = '<!-- prep-bench:end -->';

/**
 * Benchmarks each row count; `only` limits the contenders (e.g. just `cli csv` for a 10M-row
 * RSS point). Rows already in the RESULTS.md table for other row counts are kept.
 */
export async function runPrepBench(rowCounts: readonly number[], only?: readonly Contender[]): Promise<void> {
  // The bin runs the sources through tsx whenever a source is newer than dist/: measure the bundle users get.
  execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../scripts/build.ts', import.meta.url))], { stdio: 'inherit' });
  const load = loadavg().map((x) => x.toFixed(1)).join(' / ');
  const all: Result[] = [];
  for (const rows of rowCounts) all.push(...(await benchRows(rows, only ?? CONTENDERS)));
  process.stdout.write(`${[HEADER, ...all.map(format)].join('\n')}\n`);
  // Ratios within one run, against the naive baseline and the strongest peer: what a reader can
  // trust on a noisy machine.
  for (const rows of rowCounts) {
    for (const [peer, name] of [['naive csv', 'the naive baseline'], ['duckdb csv', 'DuckDB']] as const) {
      const base = all.find((r) => r.rows === rows && r.contender === peer);
      if (!base) continue;
      for (const r of all.filter((x) => x.rows === rows && x.contender.startsWith('cli csv'))) {
        process.stdout.write(`${rows} rows: ${r.contender} is ${(base.wallMs / r.wallMs).toFixed(2)}× ${name}'s speed (wall), ${(cpuOf(base) / cpuOf(r)).toFixed(2)}× its CPU efficiency\n`);
      }
    }
  }
  const resultsPath = join(here, 'RESULTS.md');
  const old = readFileSync(resultsPath, 'utf8');
  const at = old.indexOf(START);
  // Rows of earlier runs (other row counts or contenders) stay; this run's replace theirs.
  const key = (line: string) => line.split('|').slice(1, 3).map((c) => c.trim()).join('|');
  const fresh = new Map(all.map((r) => [key(format(r)), format(r)]));
  const kept = at < 0 ? [] : old.slice(at, old.indexOf(END)).split('\n').filter((l) => /^\| [\d,]+ \|/.test(l) && !fresh.has(key(l)));
  const rowsOf = (l: string) => Number(l.split('|')[1]!.replaceAll(',', ''));
  const order = (l: string) => CONTENDERS.indexOf(l.split('|')[2]!.trim() as Contender);
  const lines = [...kept, ...fresh.values()].sort((a, b) => rowsOf(a) - rowsOf(b) || order(a) - order(b));
  const table = [HEADER, ...lines].join('\n');
  const section = [
    START,
    '## prep CSV/Parquet → JSONL (`bench/prep.bench.ts`)',
    '',
    `Last run: \`npm run bench -- ${process.argv.slice(2).join(' ')}\` on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'},`,
    `load average at its start ${load} (shared machine: wall times are noisy, CPU MB/s is the steadier measure; \`load\` is the`,
    '1-minute load average when each contender started).',
    'Each contender runs in its own process; CPU s and peak RSS are that whole process, start-up included (the `cli`',
    'rows run bin/ark-batch.js from its dist/ bundle, ≈ 0.35 s of CPU and ≈ 70 MiB before reading a byte; older rows',
    'ran the sources through tsx, ≈ 0.8 s and ≈ 100 MiB). MB/s are CSV bytes per second for every contender, Parquet',
    'included, so the rows are the same work. Equal output sha256 = byte-identical JSONL (DuckDB writes the same bytes).',
    '',
    table,
    END,
  ].join('\n');
  const updated = at >= 0 ? old.slice(0, at) + section + old.slice(old.indexOf(END) + END.length) : `${old.trimEnd()}\n\n${section}\n`;
  writeFileSync(resultsPath, updated);
}

/** `[rows…] [--only=cli-csv,lib-csv-per-row,…]` (contender names with dashes for spaces) */
export function parseArgs(args: readonly string[]): [number[], Contender[] | undefined] {
  const only = args.find((a) => a.startsWith('--only='));
  const counts = args
    .filter((a) => !a.startsWith('--'))
    .map((a) => {
      const n = Number(a.replaceAll('_', ''));
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`Expected row counts as positive integers (e.g. 1000000), got ${JSON.stringify(a)}`);
      return n;
    });
  const slug = (c: string) => c.replaceAll(' ', '-');
  const picked = only?.slice('--only='.length).split(',').map((arg) => {
    const c = CONTENDERS.find((k) => slug(k) === arg);
    if (!c) throw new Error(`unknown contender ${arg}; known: ${CONTENDERS.map(slug).join(', ')}`);
    return c;
  });
  return [counts.length ? counts : [1_000_000], picked];
}

if (process.argv[2] === '--child') {
  await child(process.argv[3] as Contender, process.argv[4]!, process.argv[5]!);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runPrepBench(...parseArgs(process.argv.slice(2)));
}
