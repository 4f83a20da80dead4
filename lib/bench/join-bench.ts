import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { measureCommand, summarizeRuns, type BenchRun, type PrepBenchResult } from './prep-bench.ts';
import { generateResults } from './results.ts';

export interface JoinBenchOptions {
  /** A synthetic source (custom_id = its `id` column), so the generated job output matches it. */
  readonly source: string;
  readonly rows: number;
  /** Where the generated results/errors go. */
  readonly dir: string;
  /** join's own flags besides the inputs (id rule, format…). */
  readonly joinArgs: readonly string[];
  /** @default 3 */
  readonly runs?: number;
  readonly onRun?: (run: BenchRun, index: number, warmup: boolean) => void;
  /** Stops the running join (SIGTERM) and the runs after it. */
  readonly signal?: AbortSignal;
}

/**
 * `join` of a synthetic source with a seeded, shuffled job output (missing, duplicate, orphan
 * and failed requests included), to a discarding sink; a warm-up then `runs` timed runs.
 */
export async function benchJoin(options: JoinBenchOptions): Promise<PrepBenchResult> {
  const resultsPath = join(options.dir, 'results.jsonl');
  const errorsPath = join(options.dir, 'errors.jsonl');
  await generateResults({ rows: options.rows, resultsPath, errorsPath });
  const sizeBytes = (await Promise.all([options.source, resultsPath, errorsPath].map((p) => stat(p)))).reduce((n, s) => n + s.size, 0);
  const once = async (): Promise<BenchRun> => {
    const m = await measureCommand<{ rows: number }>(['join', options.source, ...options.joinArgs, '-r', resultsPath, '-e', errorsPath], { signal: options.signal });
    return { seconds: m.seconds, cpuSeconds: m.summary.resources.cpuSeconds, maxRssBytes: m.summary.resources.maxRssBytes, rows: m.summary.rows, lines: m.summary.rows, bytesIn: sizeBytes, bytesOut: m.stdoutBytes };
  };
  const warm = await once();
  options.onRun?.(warm, 0, true);
  const runs: BenchRun[] = [];
  for (let i = 0; i < (options.runs ?? 3); i++) {
    const run = await once();
    runs.push(run);
    options.onRun?.(run, i + 1, false);
  }
  return summarizeRuns('join', options.source, sizeBytes, runs, warm, 'ark');
}
