/**
 * join at scale: 1M source rows (bench/gen-dataset.ts CSV, ~300 MB) + a shuffled ~540 MB
 * results.jsonl and an errors.jsonl (bench/gen-results.ts), joined by custom_id = `id` into a
 * CSV in source order. Each contender runs in its own process, so peak RSS is its own:
 *   ark-batch        joinToOutput with the default --memory 256MiB (spills to hash partitions)
 *   ark-batch-mem    the same with a budget large enough to stay in memory
 *   map              plain baseline: readline + JSON.parse into a Map of whole lines, csv-parse, csv-stringify
 *   duckdb           DuckDB's hash join (read_csv + read_json, LEFT JOIN, ORDER BY row, COPY to CSV)
 *
 * Run: node --import tsx bench/join.bench.ts [rows] [contender…]
 * (data is generated once under bench/data/join-<rows>/)
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse';
import { stringify } from 'csv-stringify';
import { joinToOutput } from '../lib/join/output.ts';
import { generateCsv } from './gen-dataset.ts';
import { generateResults } from './gen-results.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CONTENDERS = ['ark-batch', 'ark-batch-mem', 'map', 'duckdb'] as const;
type Contender = (typeof CONTENDERS)[number];

interface Files {
  readonly source: string;
  readonly results: string;
  readonly errors: string;
  readonly out: string;
}

function filesFor(rows: number): Files {
  const dir = join(HERE, 'data', `join-${rows}`);
  return { source: join(dir, 'source.csv'), results: join(dir, 'results.jsonl'), errors: join(dir, 'errors.jsonl'), out: join(dir, 'out.csv') };
}

async function ensureData(rows: number): Promise<Files> {
  const f = filesFor(rows);
  mkdirSync(join(f.source, '..'), { recursive: true });
  if (!existsSync(f.source)) await generateCsv({ rows, seed: 1, path: f.source });
  if (!existsSync(f.results) || !existsSync(f.errors)) console.error(await generateResults({ rows, resultsPath: f.results, errorsPath: f.errors }));
  return f;
}

async function runArk(f: Files, memoryBytes: number): Promise<number> {
  const s = await joinToOutput({ source: f.source, results: [f.results], errors: [f.errors], id: { column: 'id' }, output: f.out, memoryBytes });
  return s.rows;
}

/** The plain way: every result line parsed and kept whole in a Map, then a lookup per row. */
async function runMap(f: Files): Promise<number> {
  const byId = new Map<string, Record<string, any>>();
  for (const path of [f.results, f.errors]) {
    for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
      if (!line) continue;
      const r = JSON.parse(line);
      const kept = byId.get(r.custom_id);
      if (!kept || kept.error || (kept.response?.status_code ?? 0) >= 400) byId.set(r.custom_id, r);
    }
  }
  let rows = 0;
  await pipeline(
    createReadStream(f.source),
    parse({ columns: true }),
    async function* (records: AsyncIterable<Record<string, string>>) {
      for await (const rec of records) {
        rows++;
        const r = byId.get(rec.id);
        const body = r?.response?.body;
        const failed = r && (r.error || r.response?.status_code >= 400);
        const err = r?.error ?? body?.error;
        yield {
          ...rec,
          status: !r ? 'missing' : failed ? 'error' : 'ok',
          content: failed ? null : (body?.choices?.[0]?.message?.content ?? null),
          reasoning_content: failed ? null : (body?.choices?.[0]?.message?.reasoning_content ?? null),
          finish_reason: failed ? null : (body?.choices?.[0]?.finish_reason ?? null),
          prompt_tokens: body?.usage?.prompt_tokens ?? null,
          completion_tokens: body?.usage?.completion_tokens ?? null,
          error_code: failed ? (err?.code ?? null) : null,
          error_message: failed ? (err?.message ?? null) : null,
        };
      }
    },
    stringify({ header: true }),
    createWriteStream(f.out),
  );
  return rows;
}

async function runDuckdb(f: Files): Promise<number> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const q = (s: string) => `'${s.replaceAll("'", "''")}'`;
  await c.run(`
    COPY (
      WITH src AS (SELECT *, row_number() OVER () AS rn FROM read_csv(${q(f.source)}, header = true, all_varchar = true)),
      res AS (
        SELECT custom_id, error, response, row_number() OVER () AS seq
        FROM read_json([${q(f.results)}, ${q(f.errors)}], format = 'newline_delimited', union_by_name = true,
          columns = {custom_id: 'VARCHAR', error: 'JSON', response: 'JSON'})
      ),
      best AS (
        SELECT * FROM (
          SELECT *, (error IS NULL OR error = 'null') AND coalesce(CAST(response->>'status_code' AS INT), 0) < 400 AS ok,
            row_number() OVER (PARTITION BY custom_id ORDER BY ((error IS NULL OR error = 'null') AND coalesce(CAST(response->>'status_code' AS INT), 0) < 400) DESC, seq) AS pick
          FROM res) WHERE pick = 1
      )
      SELECT src.* EXCLUDE (rn),
        CASE WHEN best.custom_id IS NULL THEN 'missing' WHEN best.ok THEN 'ok' ELSE 'error' END AS status,
        CASE WHEN best.ok THEN best.response->>'$.body.choices[0].message.content' END AS content,
        CASE WHEN best.ok THEN best.response->>'$.body.choices[0].message.reasoning_content' END AS reasoning_content,
        CASE WHEN best.ok THEN best.response->>'$.body.choices[0].finish_reason' END AS finish_reason,
        CAST(best.response->>'$.body.usage.prompt_tokens' AS INT) AS prompt_tokens,
        CAST(best.response->>'$.body.usage.completion_tokens' AS INT) AS completion_tokens,
        CASE WHEN NOT best.ok THEN coalesce(best.error->>'code', best.response->>'$.body.error.code') END AS error_code,
        CASE WHEN NOT best.ok THEN coalesce(best.error->>'message', best.response->>'$.body.error.message') END AS error_message
      FROM src LEFT JOIN best ON src.id = best.custom_id
      ORDER BY src.rn
    ) TO ${q(f.out)} (HEADER, DELIMITER ',')`);
  const n = await c.runAndReadAll(`SELECT count(*) FROM read_csv(${q(f.source)}, header = true, all_varchar = true)`);
  return Number(n.getRows()[0]![0]);
}

async function child(rows: number, who: Contender): Promise<void> {
  const f = filesFor(rows);
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const n =
    who === 'ark-batch' ? await runArk(f, 256 * 1024 * 1024) : who === 'ark-batch-mem' ? await runArk(f, 8 * 1024 ** 3) : who === 'map' ? await runMap(f) : await runDuckdb(f);
  const seconds = (performance.now() - started) / 1000;
  const c = process.cpuUsage(cpu0);
  const cpuSeconds = (c.user + c.system) / 1e6;
  const outBytes = statSync(f.out).size;
  await rm(f.out, { force: true });
  process.stdout.write(JSON.stringify({ who, rows: n, seconds, cpuSeconds, maxRssMB: process.resourceUsage().maxRSS / 1024, outBytes }) + '\n');
}

async function parent(rows: number, who: readonly Contender[]): Promise<void> {
  const f = await ensureData(rows);
  const inMB = (statSync(f.source).size + statSync(f.results).size + statSync(f.errors).size) / 1e6;
  console.log(`Node ${process.version}, ${rows} rows; source ${(statSync(f.source).size / 1e6).toFixed(0)} MB, results ${(statSync(f.results).size / 1e6).toFixed(0)} MB, errors ${(statSync(f.errors).size / 1e6).toFixed(0)} MB`);
  console.log(`load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')} on ${(await import('node:os')).availableParallelism()} CPUs`);
  console.log('| contender | wall s | CPU s | rows/s (wall) | input MB/s (wall) | peak RSS MB | output MB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  const measured = new Map<Contender, { seconds: number; cpuSeconds: number }>();
  for (const c of who) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), String(rows), '--child', c], { encoding: 'utf8', maxBuffer: 1 << 20 });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { rows: number; seconds: number; cpuSeconds: number; maxRssMB: number; outBytes: number };
    measured.set(c, r);
    console.log(`| ${c} | ${r.seconds.toFixed(2)} | ${r.cpuSeconds.toFixed(2)} | ${Math.round(r.rows / r.seconds).toLocaleString('en')} | ${(inMB / r.seconds).toFixed(0)} | ${r.maxRssMB.toFixed(0)} | ${(r.outBytes / 1e6).toFixed(0)} |`);
  }
  // Ratios within one run: where we stand against the strongest peer, whatever the machine's load.
  const ours = measured.get('ark-batch');
  for (const peer of ['duckdb', 'map'] as const) {
    const p = measured.get(peer);
    if (ours && p) console.log(`ark-batch takes ${(ours.seconds / p.seconds).toFixed(2)}× ${peer}'s wall time and ${(ours.cpuSeconds / p.cpuSeconds).toFixed(2)}× its CPU time`);
  }
}

const args = process.argv.slice(2);
const rows = Number(args[0] ?? 1_000_000);
if (args[1] === '--child') await child(rows, args[2] as Contender);
else await parent(rows, args.length > 1 ? (args.slice(1) as Contender[]) : CONTENDERS);
