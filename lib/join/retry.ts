/**
 * `retry`: the original request lines of every request that failed or never came back, ready to
 * submit again. Uses the join's result index, so any number of results fits the memory budget.
 */
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArkBatchError } from '../errors.ts';
import { spoolToTempFile } from '../sources/parquet.ts';
import { bytesToFile } from '../../transforms/bytes-to-file.ts';
import { readTextLines, type TextLine } from './line-files.ts';
import { createResultIndex } from './result-index.ts';
import { parseResultLine, type ResultRecord } from './result-line.ts';

export interface RetryOptions {
  /** The batch JSONL that was submitted: a path or `-`. */
  readonly batch: string;
  readonly results: readonly string[];
  readonly errors?: readonly string[];
  /** A path (written atomically) or a Writable. */
  readonly output: string | Writable;
  /** Retry only failures with these error codes (missing requests are governed by `includeMissing`). */
  readonly onlyCodes?: readonly string[];
  /** Also retry requests with no result at all. @default true */
  readonly includeMissing?: boolean;
  /** Memory budget of the result index. @default 268435456 (256 MiB) */
  readonly memoryBytes?: number;
  readonly tmpDir?: string;
  /** Longest line accepted (batch or results). @default 134217728 (128 MiB) */
  readonly maxLineBytes?: number;
  readonly stdin?: Readable;
  readonly signal?: AbortSignal;
}

export interface RetrySummary {
  readonly requests: number;
  readonly ok: number;
  readonly failed: number;
  readonly missing: number;
  /** Lines written to the retry file. */
  readonly written: number;
  /** Failures left out by `onlyCodes`. */
  readonly skippedByCode: number;
  readonly resultLines: number;
  readonly orphans: number;
  readonly output: string;
}

export async function buildRetry(options: RetryOptions): Promise<RetrySummary> {
  const inputs = [...options.results, ...(options.errors ?? [])];
  if (inputs.length === 0) throw new ArkBatchError('E_USAGE', 'Expected at least one results or errors file, got none');
  if (inputs.filter((i) => i === '-').length + (options.batch === '-' ? 1 : 0) > 1) throw new ArkBatchError('E_USAGE', 'Only one input can be - (stdin)');
  const maxLineBytes = options.maxLineBytes ?? 128 * 1024 * 1024;
  const sizes = await Promise.all(inputs.map((i) => (i === '-' ? undefined : stat(i).then((s) => s.size))));
  const index = createResultIndex({
    memoryBytes: options.memoryBytes,
    tmpDir: options.tmpDir,
    maxLineBytes,
    expectedBytes: sizes.every((s) => s !== undefined) ? sizes.reduce<number>((a, b) => a + b!, 0) : undefined,
  });
  const counts = { requests: 0, ok: 0, failed: 0, missing: 0, written: 0, skippedByCode: 0 };
  const codes = options.onlyCodes ? new Set(options.onlyCodes) : null;
  const includeMissing = options.includeMissing ?? true;
  let cleanup = async () => {};
  try {
    for (let file = 0; file < inputs.length; file++) {
      const path = inputs[file]!;
      const fileName = path === '-' ? 'stdin' : path;
      const bytes = path === '-' ? (options.stdin ?? process.stdin) : createReadStream(path, { highWaterMark: 1 << 20 });
      for await (const l of readTextLines(bytes, { maxLineBytes, file: fileName })) {
        const r = parseResultLine(l.text, { file, line: l.line, fileName }) as { -readonly [K in keyof ResultRecord]: ResultRecord[K] };
        // Only the outcome matters here; dropping the text keeps many more results in memory.
        r.content = r.reasoningContent = r.errorMessage = null;
        index.add(r);
      }
    }
    let batchPath = options.batch;
    if (index.needsTwoPasses && batchPath === '-') {
      const spooled = await spoolToTempFile(options.stdin ?? process.stdin, { dir: options.tmpDir });
      batchPath = spooled.path;
      cleanup = spooled.cleanup;
    }
    const batchName = options.batch === '-' ? 'stdin' : options.batch;
    const open = () => readTextLines(batchPath === '-' ? (options.stdin ?? process.stdin) : createReadStream(batchPath, { highWaterMark: 1 << 20 }), { maxLineBytes, file: batchName });
    const idOf = (l: TextLine): string => {
      let v: unknown;
      try {
        v = JSON.parse(l.text);
      } catch (err) {
        throw new ArkBatchError('E_JSONL_PARSE', `batch line is not JSON: ${(err as Error).message}`, { file: batchName, line: l.line, cause: err });
      }
      const id = (v as { custom_id?: unknown } | null)?.custom_id;
      if (typeof id !== 'string' || id === '') throw new ArkBatchError('E_JOIN_MISSING_ID', 'batch line has no custom_id', { file: batchName, line: l.line });
      return id;
    };
    async function* lines(): AsyncGenerator<string> {
      for await (const [l, r] of index.match(open, idOf, () => {})) {
        counts.requests++;
        let keep: boolean;
        if (!r) {
          counts.missing++;
          keep = includeMissing;
        } else if (r.ok) {
          counts.ok++;
          keep = false;
        } else {
          counts.failed++;
          keep = !codes || codes.has(r.errorCode ?? '');
          if (!keep) counts.skippedByCode++;
        }
        if (keep) {
          counts.written++;
          yield l.text + '\n';
        }
      }
    }
    const sink = typeof options.output === 'string' ? bytesToFile({ path: options.output }) : options.output;
    try {
      await pipeline([Readable.from(lines()), sink], { signal: options.signal });
    } catch (err) {
      // pipeline settles before a destroyed file sink has removed its temp file; wait for that
      // (only ours: process.stdout never emits 'close').
      if (typeof options.output === 'string' && !sink.closed) await once(sink, 'close');
      throw err;
    }
  } finally {
    index.close();
    await cleanup();
  }
  const s = index.stats();
  return { ...counts, resultLines: s.lines, orphans: s.orphans, output: typeof options.output === 'string' ? options.output : '-' };
}
