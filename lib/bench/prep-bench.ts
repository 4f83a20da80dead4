import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { ArkBatchError } from '../errors.ts';
import { TARGET_LIMITS, type Target } from '../requests/targets.ts';
import type { TokenCounter } from '../requests/tokenizer.ts';
import { packagePath } from '../util/package-root.ts';

const BIN = packagePath('bin/ark-batch.js');

/** One measured `prep` run, in its own process so peak RSS is that run's alone. */
export interface BenchRun {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly maxRssBytes: number;
  readonly rows: number;
  readonly lines: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Input tokens of the lines (warm-up run only), counted as the result's `tokens` says. */
  readonly inputTokens?: number;
}

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface PrepBenchResult {
  /** `prep` to a discarding sink, `upload`: prep streamed into a multipart upload, or `join`. */
  readonly stage: 'prep' | 'upload' | 'join';
  /** Where the upload stage sent its objects: `local serve` or `tos://bucket/prefix/`. */
  readonly uploadTarget?: string;
  readonly source: string;
  readonly format: string;
  readonly sizeBytes: number;
  readonly runs: readonly BenchRun[];
  readonly rowsPerSecond: Stat;
  readonly mbPerSecondIn: Stat;
  readonly mbPerSecondOut: Stat;
  readonly cpuSeconds: Stat;
  readonly maxRssBytes: Stat;
  readonly lines: number;
  readonly bytesOut: number;
  /** Input tokens of the output, from the warm-up run. */
  readonly inputTokens: number;
  /** `estimated` (the documented heuristic of lib/requests/tokens.ts) or `exact` (a model's tokenizer). */
  readonly tokens: 'estimated' | 'exact';
  /** The tokenizer file, when `tokens` is `exact`. */
  readonly tokenizer?: string;
  /** The same as `inputTokens` when they are estimated (the field's earlier name); absent when exact. */
  readonly estimatedInputTokens?: number;
  readonly projection: Projection;
}

/** What the whole source needs at the target's limits. */
export interface Projection {
  readonly target: Target;
  readonly maxFileBytes: number;
  readonly maxLines?: number;
  /** Files (and so batch jobs) needed: one job per input file. */
  readonly parts: number;
  readonly jobs: number;
  /** Median prep time for the whole source. */
  readonly seconds: number;
}

export interface PrepBenchOptions {
  /** A path (stdin cannot be re-read for several runs). */
  readonly source: string;
  /** prep's own flags (template, ids, format…), passed through unchanged. */
  readonly prepArgs: readonly string[];
  /** Timed runs after one warm-up. @default 3 */
  readonly runs?: number;
  /** @default 'ark' */
  readonly target?: Target;
  /**
   * Counts input tokens with this (a tokenizer from `loadTokenizer`) instead of prep's estimate:
   * the warm-up's output is read back line by line in this process. @default the estimate
   */
  readonly tokens?: TokenCounter;
  /** Stops the running child (SIGTERM, so it cleans up) and the runs after it. */
  readonly signal?: AbortSignal;
  /** Told after each run (warm-up included). */
  readonly onRun?: (run: BenchRun, index: number, warmup: boolean) => void;
  /** Measure prep streamed into a TOS multipart upload instead (`prep --upload`). */
  readonly upload?: BenchUploadTarget;
}

/** Where the upload stage writes: run i goes to `tos://{bucket}/{keyPrefix}{i}.jsonl`. */
export interface BenchUploadTarget {
  readonly bucket: string;
  /** Prepended to each run's key; a scratch prefix the caller removes afterwards. */
  readonly keyPrefix: string;
  /** How reports name the target: `local serve` or `tos://bucket/prefix/`. */
  readonly label: string;
  /** The child prep's environment (TOS endpoint and credentials). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** More `prep --upload` flags, such as `--part-size 16MiB --concurrency 8`. */
  readonly args?: readonly string[];
}

/**
 * Runs the user's own prep configuration to a discarding sink: a warm-up (which also counts
 * tokens) and then `runs` timed runs, each in a child process, and reports median and spread.
 */
export async function benchPrep(options: PrepBenchOptions): Promise<PrepBenchResult> {
  if (options.source === '-') throw new ArkBatchError('E_USAGE', 'bench needs a file to read several times, not stdin');
  const sizeBytes = (await stat(options.source)).size;
  const target = options.target ?? 'ark';
  const tokens = options.tokens?.kind === 'exact' ? options.tokens : undefined;
  const warm = tokens ? await prepCountingTokens(options.source, options.prepArgs, tokens, options.signal) : await prepOnce(options.source, [...options.prepArgs, '--estimate-tokens'], undefined, options.signal);
  options.onRun?.(warm, 0, true);
  const up = options.upload;
  const runs: BenchRun[] = [];
  for (let i = 0; i < (options.runs ?? 3); i++) {
    const args = up ? [...options.prepArgs, ...(up.args ?? []), '--upload', `tos://${up.bucket}/${up.keyPrefix}${i + 1}.jsonl`] : options.prepArgs;
    const run = await prepOnce(options.source, args, up?.env, options.signal);
    runs.push(run);
    options.onRun?.(run, i + 1, false);
  }
  const result = summarizeRuns(up ? 'upload' : 'prep', options.source, sizeBytes, runs, warm, target, tokens);
  return up ? { ...result, uploadTarget: up.label } : result;
}

/** Median and spread of the timed runs; the warm-up gives sizes and the token estimate. */
export function summarizeRuns(stage: PrepBenchResult['stage'], source: string, sizeBytes: number, runs: readonly BenchRun[], warm: BenchRun, target: Target, tokens?: TokenCounter): PrepBenchResult {
  const inputTokens = warm.inputTokens ?? 0;
  const exact = tokens?.kind === 'exact';
  const rate = (f: (r: BenchRun) => number) => stats(runs.map(f));
  const seconds = rate((r) => r.seconds);
  return {
    stage,
    source,
    format: '',
    sizeBytes,
    runs,
    rowsPerSecond: rate((r) => r.rows / r.seconds),
    mbPerSecondIn: rate((r) => sizeBytes / 1e6 / r.seconds),
    mbPerSecondOut: rate((r) => r.bytesOut / 1e6 / r.seconds),
    cpuSeconds: rate((r) => r.cpuSeconds),
    maxRssBytes: rate((r) => r.maxRssBytes),
    lines: warm.lines,
    bytesOut: warm.bytesOut,
    inputTokens,
    tokens: exact ? 'exact' : 'estimated',
    ...(exact ? { tokenizer: tokens.tokenizer } : { estimatedInputTokens: inputTokens }),
    projection: project(target, warm.bytesOut, warm.lines, seconds.median),
  };
}

/** Files (one job each) the output needs under the target's limits. */
export function project(target: Target, bytesOut: number, lines: number, seconds: number): Projection {
  const limits = TARGET_LIMITS[target];
  const byBytes = Math.ceil(bytesOut / limits.maxFileBytes);
  const byLines = limits.maxLines ? Math.ceil(lines / limits.maxLines) : 0;
  const parts = Math.max(1, byBytes, byLines);
  return { target, maxFileBytes: limits.maxFileBytes, maxLines: limits.maxLines, parts, jobs: parts, seconds };
}

export function stats(values: readonly number[]): Stat {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length === 0 ? 0 : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0 };
}

interface MeasuredCommand<S> {
  readonly seconds: number;
  /** Bytes the command wrote to stdout (its data, unless the summary comes there). */
  readonly stdoutBytes: number;
  /** The command's `--json` summary, with `resources` (CPU seconds, peak RSS). */
  readonly summary: S & { resources: { cpuSeconds: number; maxRssBytes: number } };
}

/**
 * Runs one CLI command in a child process with `--json`; its data on stdout is counted and
 * dropped (a discarding sink). The summary is the last line of stderr, or of stdout when the
 * command's data goes elsewhere (`summaryOnStdout`).
 */
export function measureCommand<S>(args: readonly string[], options: { env?: NodeJS.ProcessEnv; summaryOnStdout?: boolean; signal?: AbortSignal; onStdout?: (chunk: Buffer) => void } = {}): Promise<MeasuredCommand<S>> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    options.signal?.throwIfAborted();
    const child = spawn(process.execPath, [BIN, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env });
    // Stopped: SIGTERM lets the child unwind (abort its upload); we report once it has exited,
    // so whatever the caller cleans up next is no longer being written.
    const stop = () => child.kill('SIGTERM');
    options.signal?.addEventListener('abort', stop, { once: true });
    let stdoutBytes = 0;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdoutBytes += c.length;
      options.onStdout?.(c);
      if (options.summaryOnStdout) stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      options.signal?.removeEventListener('abort', stop);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (options.signal?.aborted) {
        // Named as a stopped pipeline is, so the CLI exits 130 like every other command.
        reject(Object.assign(new Error(`${args[0]} was stopped`, { cause: options.signal.reason }), { name: 'AbortError' }));
        return;
      }
      if (code !== 0) {
        // Exit 3 is a service failure (an upload to TOS, say): keep it one for the bench's caller too.
        reject(new ArkBatchError(code === 3 ? 'E_TOS' : 'E_USAGE', `${args[0]} failed during the benchmark (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' ')}`));
        return;
      }
      const last = (options.summaryOnStdout ? stdout : stderr).trim().split('\n').pop() ?? '';
      resolve({ seconds, stdoutBytes, summary: JSON.parse(last) });
    });
  });
}

/** One prep; with `--upload` the data goes to TOS and the summary comes on stdout. */
async function prepOnce(source: string, prepArgs: readonly string[], env?: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<BenchRun> {
  const uploading = prepArgs.includes('--upload');
  const m = await measureCommand<PrepSummaryFields>(['prep', source, ...prepArgs], { env, summaryOnStdout: uploading, signal });
  return benchRunOf(m, uploading ? m.summary.bytes : m.stdoutBytes || m.summary.bytes, m.summary.estimatedInputTokens);
}

/** What a measured run reads from prep's `--json` summary. */
interface PrepSummaryFields {
  rowsRead: number;
  written: number;
  bytesIn: number;
  bytes: number;
  estimatedInputTokens?: number;
}

function benchRunOf(m: MeasuredCommand<PrepSummaryFields>, bytesOut: number, inputTokens: number | undefined): BenchRun {
  const s = m.summary;
  return {
    seconds: m.seconds,
    cpuSeconds: s.resources.cpuSeconds,
    maxRssBytes: s.resources.maxRssBytes,
    rows: s.rowsRead,
    lines: s.written,
    bytesIn: s.bytesIn,
    bytesOut,
    inputTokens,
  };
}

/**
 * The warm-up with exact tokens: prep's JSONL comes back through this process, where each
 * line's body is counted with the tokenizer (prep itself only knows the estimate). Lines are
 * bounded by prep's --max-line-bytes, and so is the carry-over between chunks.
 */
async function prepCountingTokens(source: string, prepArgs: readonly string[], tokens: TokenCounter, signal?: AbortSignal): Promise<BenchRun> {
  let carry: Buffer[] = [];
  let total = 0;
  let failure: unknown;
  const countLine = (line: Buffer) => {
    if (line.length > 0) total += tokens.countBody((JSON.parse(line.toString('utf8')) as { body?: unknown }).body);
  };
  const onStdout = (chunk: Buffer) => {
    if (failure) return;
    try {
      let start = 0;
      for (let nl = chunk.indexOf(10); nl >= 0; start = nl + 1, nl = chunk.indexOf(10, start)) {
        const piece = chunk.subarray(start, nl);
        countLine(carry.length ? Buffer.concat([...carry, piece]) : piece);
        carry = [];
      }
      if (start < chunk.length) carry.push(chunk.subarray(start));
    } catch (err) {
      // Reported once the child is done: an event handler must not throw.
      failure = err;
    }
  };
  const m = await measureCommand<PrepSummaryFields>(['prep', source, ...prepArgs], { onStdout, signal });
  if (!failure && carry.length) countLine(Buffer.concat(carry));
  if (failure) throw new ArkBatchError('E_JSONL_PARSE', `Cannot count the tokens of prep's output: ${(failure as Error).message}`, { cause: failure });
  return benchRunOf(m, m.stdoutBytes || m.summary.bytes, total);
}
