/**
 * `npm run bench [-- rows…]`: the benchmarks that describe the product as a whole (today: prep
 * CSV/Parquet → JSONL). Stage benchmarks (csv-parser, id-tracker, …) are run one by one.
 */
import { parseArgs, runPrepBench } from './prep.bench.ts';

await runPrepBench(...parseArgs(process.argv.slice(2)));
