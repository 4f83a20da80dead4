import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArkBatchError } from './errors.ts';
import type { PartInfo, PartsManifest } from './jsonl/parts.ts';
import { idsUniqueByConstruction } from './requests/custom-id.ts';
import type { PrepareOptions, PrepareStats } from './requests/prepare.ts';
import { TARGET_LIMITS } from './requests/targets.ts';
import { countBytes, openInput, rowsOfInput, type OpenSourceOptions } from './sources/open.ts';
import type { Reject } from './validate/rejects.ts';
import { createIdTracker } from './validate/id-tracker.ts';
import { encodeJsonl } from '../transforms/encode-jsonl.ts';
import { linesToFile } from '../transforms/lines-to-file.ts';
import { linesToParts } from '../transforms/lines-to-parts.ts';
import { prepareRequests } from '../transforms/prepare-requests.ts';
import { batchLinesFromCsv } from '../transforms/batch-lines-from-csv.ts';
import { LOCAL_BYTES, parallelBatchLinesFromCsv, parallelCsvLinesApplies } from './requests/csv-lines-parallel.ts';
import { availableParallelism } from 'node:os';

export const DEFAULT_ID_MEMORY_BYTES = 8 * 1024 * 1024;

/**
 * Default ceiling on prep's threads: past it this thread's replay (ids, limits, output) sets
 * the pace, and each worker costs ~40 MB.
 */
export const DEFAULT_MAX_THREADS = 4;

/**
 * Threads preparing CSV/TSV when `--threads` is not given: one per CPU but the one the output
 * writer thread takes, at most {@link DEFAULT_MAX_THREADS}. So a 2-CPU machine prepares on one
 * thread: measured on a 2-vCPU VM, a preparing worker made the run slower (5.0 s against 3.8 s
 * for 1M rows) and larger (160 MB against 120), since every hand-off between threads costs the
 * main thread ~0.1–0.3 ms there and the two vCPUs deliver about 1.25 cores.
 */
export function defaultThreads(cpus = availableParallelism()): number {
  return Math.max(1, Math.min(cpus - 1, DEFAULT_MAX_THREADS));
}

export interface PrepOptions extends OpenSourceOptions, Omit<PrepareOptions, 'ids' | 'file' | 'onReject'> {
  /** A path or `-` (stdin). */
  readonly input: string;
  /** A path, or a Writable for the bytes (stdout). Split output needs a path. */
  readonly output: string | Writable;
  /** Split into parts of at most this many lines / bytes (path output only). */
  readonly splitLines?: number;
  readonly splitBytes?: number;
  /** Where rejected rows go (JSONL `{row, line, custom_id, code, message, source}`), written atomically. */
  readonly rejectsPath?: string;
  /**
   * Memory budget of the custom_id uniqueness table; spills to tmpDir beyond it. Small on
   * purpose: a table that fits the caches probes faster, and extra runs cost only a merge at
   * the end (bench/RESULTS.md, id tracker), while peak RSS stays flat. @default 8 MiB
   */
  readonly idMemoryBytes?: number;
  readonly signal?: AbortSignal;
  /** Called every few thousand rows and at the end with bytes and rows read. */
  readonly onProgress?: (p: { bytes: number; rows: number }) => void;
  /**
   * CSV/TSV go through one fused stage (parse + prepare + batch, lib/requests/csv-lines.ts);
   * false runs the composable per-row stages instead. Same output either way. @default true
   */
  readonly fused?: boolean;
  /**
   * Threads preparing CSV/TSV, this one included (lib/requests/csv-lines-parallel.ts); 1 starts
   * no preparing worker, and neither does an input under 8 MiB. (Outputs of large inputs are
   * written and hashed by a writer thread whatever this is, on a machine with more than one CPU.)
   * @default {@link defaultThreads}()
   */
  readonly threads?: number;
  /** Input bytes per piece handed to a worker thread. @default 262144 (256 KiB) */
  readonly pieceBytes?: number;
}

export interface PrepSummary extends PrepareStats {
  readonly source: string;
  readonly format: string;
  /** Bytes of the source read (for Parquet, the file's size). */
  readonly bytesIn: number;
  readonly output: string;
  /** Present when the output was split into parts. */
  readonly manifest?: PartsManifest;
  /** Present when the output was one file. */
  readonly file?: PartInfo;
  readonly rejectsFile?: string;
  readonly seconds: number;
}

/**
 * The whole `prep` as one call: source → rows → requests (template, custom_id, checks) →
 * JSONL sink, with rejects, split, shard and the file limits. Output files appear only when
 * the run succeeds; a failed run leaves none behind.
 */
export async function prep(options: PrepOptions): Promise<PrepSummary> {
  const started = Date.now();
  const split = options.splitLines !== undefined || options.splitBytes !== undefined;
  const limits = TARGET_LIMITS[options.target ?? 'ark'];
  const maxFileBytes = options.maxFileBytes ?? limits.maxFileBytes;
  const maxLines = options.maxLines ?? limits.maxLines;
  if (split && typeof options.output !== 'string') throw new ArkBatchError('E_USAGE', 'Split output needs a file: give -o OUT.jsonl');
  if (options.splitBytes !== undefined && options.splitBytes > maxFileBytes) {
    throw new ArkBatchError('E_USAGE', `--split-bytes ${options.splitBytes} is over the ${maxFileBytes}-byte file limit`);
  }
  if (options.splitLines !== undefined && maxLines !== undefined && options.splitLines > maxLines) {
    throw new ArkBatchError('E_USAGE', `--split-lines ${options.splitLines} is over the ${maxLines}-line file limit`);
  }

  const input = await openInput(options.input, options);
  const ids = idsUniqueByConstruction(options.id ?? {}) ? null : createIdTracker({ memoryBytes: options.idMemoryBytes ?? DEFAULT_ID_MEMORY_BYTES, tmpDir: options.tmpDir });
  const rejects = options.rejectsPath ? linesToFile({ path: options.rejectsPath }) : undefined;
  const prepareOptions = {
    ...options,
    file: input.name,
    ids,
    // Split parts carry their own limits; one file must hold everything otherwise.
    maxFileBytes: split ? undefined : maxFileBytes,
    maxLines: split ? undefined : maxLines,
    // Rejects are few by construction (bounded by --max-rejects), so they skip backpressure.
    onReject: rejects ? (r: Reject) => void rejects.write(JSON.stringify(r)) : undefined,
  };
  // Large outputs are written and hashed on a thread of their own, when there is a core for it.
  const writerThread = typeof options.output === 'string' && availableParallelism() > 1 && (input.sizeBytes === undefined || input.sizeBytes >= LOCAL_BYTES);
  const stages: (Readable | Writable)[] = [];
  let preparer: Transform & { readonly stats: PrepareStats };
  let bytesRead: () => number;
  // Objects each stage after the preparer may hold: lines are small, but batches are up to
  // 1 MiB, and when the disk throttles the writes 16 of them in each stage were ~50 MB of RSS.
  let queued = 16;
  if (input.bytes && (input.format === 'csv' || input.format === 'tsv') && options.fused !== false && !options.estimateTokens) {
    // CSV/TSV: parse, prepare and batch in one stage (lib/requests/csv-lines.ts).
    const counted = countBytes();
    bytesRead = counted.read;
    const threads = options.threads ?? defaultThreads();
    const csvOptions = {
      ...prepareOptions,
      delimiter: options.delimiter ?? (input.format === 'tsv' ? '\t' : ','),
      header: options.header ?? true,
    };
    preparer =
      threads > 1 && parallelCsvLinesApplies(csvOptions)
        ? parallelBatchLinesFromCsv({ ...csvOptions, threads, chunkBytes: options.pieceBytes })
        : // Into one file on the writer thread: 1 MiB batches in shared memory, handed over without a copy.
          batchLinesFromCsv({ ...csvOptions, recycle: input.recycle, ...(writerThread && !split ? { sharedBatches: true, batchBytes: 1 << 20 } : {}) });
    stages.push(input.bytes, counted.stream, preparer);
    const stats = preparer.stats;
    queued = 2;
    if (options.onProgress) stages.push(progressTap(options.onProgress, bytesRead, () => stats.rowsRead, 1, queued));
  } else {
    const source = rowsOfInput(input, { binaryCells: true, ...options });
    bytesRead = source.bytesRead;
    preparer = prepareRequests(prepareOptions);
    stages.push(source.rows);
    let rows = 0;
    if (options.onProgress) stages.push(progressTap(options.onProgress, bytesRead, () => ++rows, 0x2000, queued));
    stages.push(preparer);
  }
  // A rejects file that cannot be written stops the run like any other output failure.
  rejects?.on('error', (err) => preparer.destroy(err));
  const sink = typeof options.output !== 'string'
    ? null
    : split
      ? linesToParts({ path: options.output, splitLines: options.splitLines, splitBytes: options.splitBytes, writerThread, highWaterMark: queued })
      : linesToFile({ path: options.output, writerThread, highWaterMark: queued });

  if (ids) stages.push(spilledDuplicatesGate(ids, input.name, queued));
  if (sink) stages.push(sink);
  else stages.push(encodeJsonl(), options.output as Writable);

  try {
    await pipeline(stages, { signal: options.signal });
    if (rejects) {
      rejects.end();
      await rejects.result;
    }
  } catch (err) {
    rejects?.destroy(err as Error);
    throw err;
  } finally {
    ids?.close();
    await input.close();
  }
  options.onProgress?.({ bytes: bytesRead(), rows: preparer.stats.rowsRead });
  const outcome = sink ? await sink.result : undefined;
  return {
    ...preparer.stats,
    source: input.name,
    format: input.format,
    bytesIn: input.format === 'parquet' ? (input.sizeBytes ?? 0) : bytesRead(),
    output: typeof options.output === 'string' ? options.output : '-',
    manifest: split ? (outcome as PartsManifest) : undefined,
    file: sink && !split ? (outcome as PartInfo) : undefined,
    rejectsFile: options.rejectsPath,
    seconds: (Date.now() - started) / 1000,
  };
}

/**
 * Duplicates among ids spilled to disk are only known once every id is in. This stage holds
 * the end of the stream until the tracker has merged its runs, so a duplicate fails the run
 * before the sink finishes, and the sink then removes its files instead of publishing them.
 */
function spilledDuplicatesGate(ids: ReturnType<typeof createIdTracker>, file: string, highWaterMark: number): Transform {
  return new Transform({
    objectMode: true,
    highWaterMark,
    transform(line, _enc, callback) {
      callback(null, line);
    },
    flush(callback) {
      ids.finish().then((found) => {
        if (found.duplicateCount === 0) return callback();
        const d = found.duplicates[0]!;
        callback(new ArkBatchError('E_ID_DUPLICATE', `${found.duplicateCount} duplicate custom_id(s), e.g. rows ${d.first} and ${d.second}`, { file, row: d.second }));
      }, callback);
    },
  });
}

/** Reports progress every `every`-th item (rows, or batches of the fused path). */
function progressTap(report: (p: { bytes: number; rows: number }) => void, bytes: () => number, rows: () => number, every: number, highWaterMark: number): Transform {
  let seen = 0;
  return new Transform({
    objectMode: true,
    highWaterMark,
    transform(item: unknown, _enc, callback) {
      const n = rows();
      if (++seen % every === 0) report({ bytes: bytes(), rows: n });
      callback(null, item);
    },
  });
}
