/**
 * `npm run bench [-- rows…]`: the reference suite, every stage on the same synthetic data beside
 * its baselines in the same run — prep (CSV/Parquet → JSONL vs naive csv-parse + JSON.stringify),
 * upload (prep | upload vs prep alone, to a loopback serve) and join (vs a plain Map join and
 * DuckDB). Each writes its table to stdout; prep also updates its section of bench/RESULTS.md.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs, runPrepBench } from './prep.bench.ts';

const [counts, contenders] = parseArgs(process.argv.slice(2));
await runPrepBench(counts, contenders);

const rows = String(Math.max(...counts));
for (const [script, args] of [
  ['upload.bench.ts', [fileURLToPath(new URL(`data/dataset-${rows}-seed1.csv`, import.meta.url)), '256']],
  ['join.bench.ts', [rows]],
] as const) {
  console.log(`\n## ${script}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}
