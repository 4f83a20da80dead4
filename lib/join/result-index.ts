/**
 * Results keyed by custom_id, in bounded memory, matched back to items in their own order.
 *
 * In memory while the results fit `memoryBytes`: a Map custom_id → record, one pass over the
 * items. Past the budget the index spills: every record goes to one of P hash partitions by
 * custom_id. Matching then takes two passes over the items (so a stdin source is spooled first):
 *   1. the items' ids go to the same P partitions, each partition file in item order;
 *   2. partition by partition, the results are loaded into a Map and the ids file is read, and
 *      the match of each id (or a "none" mark) is written out, still in item order;
 *   3. the items are read again; the id of each names its partition, whose next line is its
 *      match. No sort and no merge: each partition file is consumed in the order it was made.
 * Only one partition's results are in memory at a time; the budget check happens there.
 */
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArkBatchError } from '../errors.ts';
import { cutAtLines, LineAppender, LineFileReader } from './line-files.ts';
import { decodeRecord, encodeRecord, replacesKept, type ResultRecord } from './result-line.ts';
import type { CsvTailFormat } from './joined-row.ts';
import { tailBytesLimit, TailReader } from './tail-files.ts';
import { entryBytes, type MatchPartitionTask } from './match-partition.ts';
import { hashOf, idLine, idsFile, matchedFile, orphansFile, resultsFile, shiftLine, tailsFile, type SpillRangeResult, type SpillRangeTask } from './spill-tasks.ts';
import { createWorkerPool, type TaskRun, type WorkerPool } from './worker-pool.ts';

export interface ResultIndexOptions {
  /** Bytes the results may take in memory (estimated, strings counted as UTF-16). @default 268435456 (256 MiB) */
  readonly memoryBytes?: number;
  /** Where spill partitions go (a private subdirectory, removed at the end). @default os.tmpdir() */
  readonly tmpDir?: string;
  /** Total bytes of the results files when known; sizes the partitions. */
  readonly expectedBytes?: number;
  /** Number of hash partitions when spilling; by default from `expectedBytes` (16–256, 256 when unknown). */
  readonly partitions?: number;
  /** Longest spilled line accepted back. @default 134217728 (128 MiB) */
  readonly maxLineBytes?: number;
  /** Bytes of a results file per parse task of `spillFiles`. @default 67108864 (64 MiB) */
  readonly rangeBytes?: number;
}

export interface ResultIndexStats {
  /** Result lines added. */
  readonly lines: number;
  /** Lines for a custom_id that already had one (retry rounds, duplicates). */
  readonly duplicates: number;
  /** Distinct custom_ids that matched no item. */
  readonly orphans: number;
  /** Spill partitions used; 0 when everything stayed in memory. */
  readonly partitions: number;
}

/** A results file for `spillFiles`. */
export interface ResultsFile {
  readonly path: string;
  /** Name in error messages. */
  readonly fileName: string;
  /** Its index among the join's inputs (`ResultRecord.file`). */
  readonly file: number;
  readonly size: number;
}

export interface SpillFilesOptions {
  readonly pool: WorkerPool;
  readonly keepRaw: boolean;
  /**
   * Spill the results as CSV tails of this format (`SpillRangeTask.tails`): then only
   * `matchTails`, with the same format, may match them.
   */
  readonly tails?: CsvTailFormat;
}

export interface ResultIndex {
  add(record: ResultRecord): void;
  /**
   * Spills whole results files at once (the index must still be empty): each file is cut into
   * byte ranges at line ends, parsed and partitioned on the worker pool (or here, without one),
   * while the caller goes on. `match` waits for it, and reports the first failure in input order.
   */
  spillFiles(files: readonly ResultsFile[], options: SpillFilesOptions): void;
  /**
   * Pairs each item with its result, in item order. `open` is called once when the results fit
   * in memory and twice (two identical passes) once spilled; `needsTwoPasses` says which.
   * Results that match no item go to `onOrphan`.
   */
  match<T>(
    open: () => AsyncIterable<T>,
    idOf: (item: T) => string | null,
    onOrphan: (r: ResultRecord) => void,
    /** The items' ids in order, in batches, when they can be listed more cheaply than by `open` + `idOf` (a spilled match's first pass). */
    ids?: () => AsyncIterable<IdBatch>,
  ): AsyncGenerator<[T, ResultRecord | undefined]>;
  /**
   * A spilled match into CSV: lists the ids (`ids`, the first pass), matches, reports orphans,
   * and hands back each partition's answers as CSV tails in item order, for the caller's second
   * pass. `close` releases them (the index's own `close` still removes the files).
   */
  matchTails(ids: () => AsyncIterable<IdBatch>, onOrphan: (r: ResultRecord) => void, format: CsvTailFormat): Promise<MatchedTails>;
  readonly needsTwoPasses: boolean;
  stats(): ResultIndexStats;
  /** Removes temp files; safe at any time. */
  close(): void;
}

/** A batch of the items' ids, in item order, for a spilled match's first pass. */
export interface IdBatch {
  readonly ids: readonly (string | null)[];
  /** Note where each partition stands before this batch (`MatchedTails.marks`). */
  readonly mark?: boolean;
}

/** The answers of a spilled CSV match, partition by partition (lib/join/tail-files.ts). */
export interface MatchedTails {
  /** The spill directory, where partition p's tails are `tails-<p>`. */
  readonly dir: string;
  /** Per marked batch, per partition: the byte offset in `tails-<p>` of that batch's first tail. */
  readonly marks: readonly (readonly number[])[];
  readonly partitions: number;
  /** Partition p's reader; the next record is the next id (in item order) that hashes to p. */
  reader(p: number): TailReader;
  close(): void;
}

const APPEND_BUFFER = 64 * 1024;
/**
 * One partition may always use this much, however small the budget: a tiny budget then still
 * means "spill at once" (what tests force) rather than "fail".
 */
const MIN_PARTITION_BYTES = 16 * 1024 * 1024;
const READ_BUFFER = 64 * 1024;
/** Bytes of results per range a worker parses (ranges are queued; each has its own partition files). */
const RANGE_BYTES = 64 * 1024 * 1024;

/**
 * A kept result: its encoded line (one flat string is far lighter for the GC than a record
 * object, and its size is known exactly), whether it is a success, and whether an item took it.
 */
interface Entry {
  text: string;
  ok: boolean;
  hit: boolean;
}

/**
 * Live data may use this share of the budget: V8 lets the heap grow to two or three times its
 * live size before a full collection, and the budget is meant to bound the process.
 */
const LIVE_SHARE = 8;

/** Whether results of this many bytes are certain to spill under the budget (they would not fit even if nothing were dropped). */
export function resultsWillSpill(bytes: number, memoryBytes = 256 * 1024 * 1024): boolean {
  return bytes > memoryBytes / LIVE_SHARE;
}

export function createResultIndex(options: ResultIndexOptions = {}): ResultIndex {
  const memoryBytes = options.memoryBytes ?? 256 * 1024 * 1024;
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes < 1) {
    throw new ArkBatchError('E_USAGE', `Expected memoryBytes to be a positive integer, got ${String(memoryBytes)} (${typeof memoryBytes})`);
  }
  const maxLineBytes = options.maxLineBytes ?? 128 * 1024 * 1024;
  let map: Map<string, Entry> | null = new Map();
  let used = 0;
  let lines = 0;
  let duplicates = 0;
  let orphans = 0;
  let dir: string | null = null;
  let parts: LineAppender[] | null = null;
  let partitionCount = 0;
  /** Spilled in parallel: the chunk tasks (in input order) and their outcomes. */
  let chunks: { tasks: SpillRangeTask[]; run: TaskRun<SpillRangeResult> } | null = null;
  /** The format the chunks were spilled as tails in, if so. */
  let spilledTails: CsvTailFormat | null = null;
  let pool: WorkerPool | null = null;

  /** `together`: partitions matched at the same time (one per worker), which share the budget. */
  function choosePartitions(together = 1): number {
    if (options.partitions !== undefined) return Math.max(1, Math.floor(options.partitions));
    if (options.expectedBytes === undefined) return 256;
    // A partition holds about 1/P of the results (as UTF-16 in memory); aim for the live share
    // of the budget each, so an unlucky hash spread still fits the half a partition may use.
    const p = Math.ceil((options.expectedBytes * 2 * LIVE_SHARE * together) / memoryBytes);
    return Math.min(256, Math.max(16, p));
  }

  function makeDir(together = 1): string {
    partitionCount = choosePartitions(together);
    const root = options.tmpDir ?? tmpdir();
    try {
      return (dir = mkdtempSync(join(root, 'ark-batch-join-')));
    } catch (err) {
      throw new ArkBatchError('E_IO', `cannot create the join spill directory: ${(err as Error).message}`, { file: root, cause: err });
    }
  }

  function spill(): void {
    const d = makeDir();
    parts = [];
    for (let p = 0; p < partitionCount; p++) parts.push(new LineAppender(resultsFile(d, 0, p), APPEND_BUFFER));
    for (const [id, e] of map!) parts[hashOf(id, partitionCount)]!.push(e.text);
    map = null;
  }

  function spillFiles(files: readonly ResultsFile[], opts: SpillFilesOptions): void {
    if (lines > 0 || parts || chunks) throw new ArkBatchError('E_USAGE', 'spillFiles needs an empty result index');
    // The pool's workers match at once, each one partition at a time.
    const d = makeDir(Math.max(1, opts.pool.size));
    map = null;
    pool = opts.pool;
    const tasks: SpillRangeTask[] = [];
    for (const f of files) {
      for (const range of cutAtLines(f.path, f.size, Math.max(1, Math.ceil(f.size / (options.rangeBytes ?? RANGE_BYTES))))) {
        tasks.push({
          kind: 'range',
          dir: d,
          partitions: partitionCount,
          chunk: tasks.length,
          path: f.path,
          fileName: f.fileName,
          file: f.file,
          start: range.start,
          end: range.end,
          maxLineBytes,
          keepRaw: opts.keepRaw,
          tails: opts.tails,
        });
      }
    }
    chunks = { tasks, run: pool.start(tasks) };
    spilledTails = opts.tails ?? null;
  }

  /** Finishes the parallel spill; returns each chunk's first line minus one within its file. */
  async function settleChunks(): Promise<number[]> {
    const { tasks, run } = chunks!;
    // This thread joins in once the source's ids are listed.
    await run.help();
    const outcomes = await run.settled;
    const bases: number[] = [];
    let base = 0;
    for (let c = 0; c < outcomes.length; c++) {
      if (tasks[c]!.start === 0) base = 0;
      const o = outcomes[c]!;
      if (!o.ok) throw shiftLine(o.error, base);
      bases.push(base);
      base += o.result.lines;
      lines += o.result.records;
    }
    return bases;
  }

  function add(record: ResultRecord): void {
    lines++;
    if (parts) {
      parts[hashOf(record.customId, partitionCount)]!.push(encodeRecord(record));
      return;
    }
    const m = map!;
    const kept = m.get(record.customId);
    if (kept) {
      duplicates++;
      if (replacesKept(kept.ok)) {
        const text = encodeRecord(record);
        used += 2 * (text.length - kept.text.length);
        kept.text = text;
        kept.ok = record.ok;
      }
    } else {
      const text = encodeRecord(record);
      m.set(record.customId, { text, ok: record.ok, hit: false });
      used += entryBytes(record.customId, text);
    }
    if (used > memoryBytes / LIVE_SHARE) spill();
  }

  function close(): void {
    const open = parts ?? [];
    parts = null;
    chunks = null;
    try {
      for (const p of open) p.close();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = null;
    }
  }

  async function* inMemory<T>(open: () => AsyncIterable<T>, idOf: (item: T) => string | null, onOrphan: (r: ResultRecord) => void): AsyncGenerator<[T, ResultRecord | undefined]> {
    const m = map!;
    for await (const item of open()) {
      const id = idOf(item);
      const e = id === null ? undefined : m.get(id);
      if (e) e.hit = true;
      yield [item, e ? decodeRecord(e.text) : undefined];
    }
    for (const e of m.values()) {
      if (!e.hit) {
        orphans++;
        onOrphan(decodeRecord(e.text));
      }
    }
  }

  /**
   * A spilled match up to the second pass: the items' ids go to their partitions (first pass),
   * the results finish spilling, each partition is matched (on the pool and this thread) and its
   * orphans reported. The answers are then in `matched-<p>` (or `tails-<p>` with `tails`).
   */
  async function matchSpilled(ids: () => AsyncIterable<IdBatch>, onOrphan: (r: ResultRecord) => void, tails: CsvTailFormat | undefined): Promise<number[][]> {
    const d = dir!;
    const P = partitionCount;
    for (const p of parts ?? []) p.close();
    parts = null;
    const idFiles = Array.from({ length: P }, (_, p) => new LineAppender(idsFile(d, p), APPEND_BUFFER));
    // Per marked batch, per partition: ids listed before it.
    const marked: number[][] = [];
    let firstPass: unknown = null;
    try {
      for await (const batch of ids()) {
        if (batch.mark) marked.push(idFiles.map((f) => f.lines));
        for (const id of batch.ids) if (id !== null) idFiles[hashOf(id, P)]!.push(idLine(id));
      }
    } catch (err) {
      firstPass = err;
    } finally {
      for (const f of idFiles) f.close();
    }
    // The results come first, as when they are read serially: their failure is the one reported.
    const lineBases = chunks ? await settleChunks() : [0];
    if (firstPass !== null) throw firstPass;
    if (spilledTails && (spilledTails.delimiter !== tails?.delimiter || spilledTails.raw !== tails.raw)) {
      throw new ArkBatchError('E_USAGE', 'results spilled as CSV tails can only be matched into CSV tails of the same format');
    }
    const chunkTasks = chunks?.tasks ?? [];
    const origins = spilledTails ? chunkTasks.map((t) => ({ path: t.path, fileName: t.fileName, file: t.file })) : undefined;
    const keepRaw = chunkTasks[0]?.keepRaw ?? false;
    const limitBytes = Math.max(memoryBytes, MIN_PARTITION_BYTES);
    const tasks: MatchPartitionTask[] = Array.from({ length: P }, (_, p) => ({
      kind: 'match',
      dir: d,
      partition: p,
      lineBases,
      limitBytes,
      maxLineBytes,
      tails,
      marks: marked.map((counts) => counts[p]!),
      origins,
      keepRaw,
    }));
    pool ??= createWorkerPool({ workers: 0 });
    const run = pool.start(tasks);
    // This thread matches partitions too. (When every worker also carried a tsx loader thread of
    // its own, that pushed the peak RSS past the budget; bundled workers left the room: 1M-row
    // bench 246–267 MB, about 1 s faster.)
    await run.help();
    const outcomes = await run.settled;
    for (const o of outcomes) if (!o.ok) throw o.error;
    // The workers' memory is not needed for the second pass, unless it joins CSV ranges.
    if (!tails) await pool.close();
    for (let p = 0; p < P; p++) {
      const o = outcomes[p]!;
      if (!o.ok) continue;
      duplicates += o.result.duplicates;
      orphans += o.result.orphans;
      const lost = new LineFileReader(orphansFile(d, p), READ_BUFFER, maxLineBytes);
      try {
        for (let text = lost.next(); text !== null; text = lost.next()) onOrphan(decodeRecord(text));
      } finally {
        lost.close();
      }
      unlinkSync(orphansFile(d, p));
    }
    return marked.map((_, k) => outcomes.map((o) => (o.ok ? o.result.tailOffsets[k]! : 0)));
  }

  async function* spilled<T>(
    open: () => AsyncIterable<T>,
    idOf: (item: T) => string | null,
    onOrphan: (r: ResultRecord) => void,
    ids: (() => AsyncIterable<IdBatch>) | undefined,
  ): AsyncGenerator<[T, ResultRecord | undefined]> {
    await matchSpilled(
      ids ??
        async function* () {
          for await (const item of open()) yield { ids: [idOf(item)] };
        },
      onOrphan,
      undefined,
    );
    const d = dir!;
    const P = partitionCount;
    const readers: (LineFileReader | null)[] = new Array(P).fill(null);
    try {
      for await (const item of open()) {
        const id = idOf(item);
        if (id === null) {
          yield [item, undefined];
          continue;
        }
        const p = hashOf(id, P);
        const reader = (readers[p] ??= new LineFileReader(matchedFile(d, p), READ_BUFFER, maxLineBytes));
        const text = reader.next();
        if (text === null) throw new ArkBatchError('E_INTEGRITY', 'the source changed between the two join passes (more rows the second time)');
        if (text === '0') {
          yield [item, undefined];
          continue;
        }
        const r = decodeRecord(text);
        if (r.customId !== id) throw new ArkBatchError('E_INTEGRITY', 'the source changed between the two join passes', { customId: id });
        yield [item, r];
      }
    } finally {
      for (const r of readers) r?.close();
    }
  }

  return {
    add,
    async *match(open, idOf, onOrphan, ids) {
      try {
        if (parts || chunks) yield* spilled(open, idOf, onOrphan, ids);
        else yield* inMemory(open, idOf, onOrphan);
      } finally {
        // Workers first: none may still write into the directory close() removes.
        await pool?.close();
        close();
      }
    },
    async matchTails(ids, onOrphan, format) {
      if (!parts && !chunks) throw new ArkBatchError('E_USAGE', 'matchTails needs a spilled result index');
      const marks = await matchSpilled(ids, onOrphan, format);
      const d = dir!;
      const readers: (TailReader | null)[] = new Array(partitionCount).fill(null);
      return {
        dir: d,
        marks,
        partitions: partitionCount,
        reader: (p) => (readers[p] ??= new TailReader(tailsFile(d, p), { bufferBytes: READ_BUFFER, maxRecordBytes: tailBytesLimit(maxLineBytes) })),
        close() {
          for (const r of readers) r?.close();
        },
      };
    },
    spillFiles,
    get needsTwoPasses() {
      return parts !== null || chunks !== null;
    },
    stats: () => ({ lines, duplicates, orphans, partitions: partitionCount }),
    close,
  };
}
