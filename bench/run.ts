/**
 * `npm run bench [-- rows…]`: the benchmarks that describe the product as a whole (today: prep
 * CSV/Parquet → JSONL). Stage benchmarks (csv-parser, id-tracker, …) are run one by one.
 */
import { runPrepBench } from './prep.bench.ts';

const counts = process.argv.slice(2).map(Number);
await runPrepBench(counts.length ? counts : [1_000_000]);
