/**
 * The second pass of a spilled CSV-to-CSV join, split by source byte ranges across the worker
 * pool: it is otherwise the one serial step of the join. The first pass marks ranges at record
 * starts (with their line, rows before, and each partition's id count); matching notes where
 * each range's tails start in every `tails-<p>`; each task then joins its range into a part
 * file of its own (`joined-<k>`), and the parts are streamed out in order.
 */
import { closeSync, openSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ArkBatchError } from '../errors.ts';
import type { IdRule } from '../requests/custom-id.ts';
import { createCsvParser, type OnCsvRecord } from '../sources/csv-parser.ts';
import { createCsvRowBuilder } from '../sources/csv-rows.ts';
import type { Row } from '../sources/row.ts';
import { binaryIdOf, bindCsvRowJoiner, csvHeaderLine, Latin1Blocks, noCounts, type JoinCounts } from './csv-join-pass.ts';
import { AppendFile, io } from './line-files.ts';
import type { MatchedTails } from './result-index.ts';
import { tailsFile } from './spill-tasks.ts';
import { TailReader } from './tail-files.ts';
import type { Outcome, WorkerPool } from './worker-pool.ts';

const READ_BYTES = 1 << 20;
const TAIL_BUFFER = 64 * 1024;
/** Blocks of the parts as they are streamed out: a few are queued downstream, each costs RSS. */
const PART_BLOCK_BYTES = 1 << 18;

export const joinedFile = (dir: string, part: number) => join(dir, `joined-${part}`);

/** Where a source range starts, as the first pass saw it. */
export interface SourceCut {
  /** Byte offset of a record start. */
  readonly offset: number;
  /** Physical line of that record. */
  readonly line: number;
  /** Data rows before it. */
  readonly rowsBefore: number;
}

export interface CsvJoinRangeTask {
  readonly kind: 'csv-join';
  readonly dir: string;
  /** The range's number: its output goes to `joined-<part>`. */
  readonly part: number;
  readonly path: string;
  /** Source name in error messages and ids' errors. */
  readonly file: string;
  readonly cut: SourceCut;
  /** End of the range (the next cut's offset, or the file's size). */
  readonly end: number;
  readonly sourceDelimiter: string;
  readonly sourceHeader: boolean;
  readonly columns: readonly string[];
  readonly id: IdRule;
  /** Output delimiter, and the output's column names. */
  readonly delimiter: string;
  readonly header: readonly string[];
  readonly raw: boolean;
  readonly resultPrefix: string;
  readonly partitions: number;
  /** Per partition: the byte offset of the range's first tail. */
  readonly tailStarts: readonly number[];
  readonly maxRecordBytes: number;
}

/** Joins one source range into its part file; returns its counts. */
export function joinCsvRange(task: CsvJoinRangeTask): JoinCounts {
  const counts = noCounts();
  const readers: (TailReader | null)[] = new Array(task.partitions).fill(null);
  const tails = {
    partitions: task.partitions,
    reader: (p: number) =>
      (readers[p] ??= new TailReader(tailsFile(task.dir, p), { bufferBytes: TAIL_BUFFER, maxRecordBytes: task.maxRecordBytes, start: task.tailStarts[p] })),
  };
  const { cut, file } = task;
  // The range starts at a record: no BOM, lines and row numbers go on from the cut.
  const parser = createCsvParser({ delimiter: task.sourceDelimiter, file, latin1: true, bom: false, startLine: cut.line, startOffset: cut.offset });
  const toRow = createCsvRowBuilder({ header: task.sourceHeader, file, latin1: true, columns: task.columns, rowOffset: cut.rowsBefore });
  const idOf = binaryIdOf(task.id, file);
  let joinRow: ((row: Row) => string) | null = null;
  const out = new AppendFile(joinedFile(task.dir, task.part));
  const blocks = new Latin1Blocks(READ_BYTES, (b) => out.write(b), { reuse: true });
  const onRecord: OnCsvRecord = (cells, line, invalidUtf8) => {
    const row = toRow(cells, line, invalidUtf8)!;
    joinRow ??= bindCsvRowJoiner(row, { delimiter: task.delimiter, header: task.header, raw: task.raw, resultPrefix: task.resultPrefix, tails, idOf, counts });
    blocks.push(joinRow(row));
  };
  const fd = source('open', file, () => openSync(task.path, 'r'));
  const buf = Buffer.allocUnsafe(READ_BYTES);
  try {
    for (let pos = cut.offset; pos < task.end; ) {
      const n = source('read', file, () => readSync(fd, buf, 0, Math.min(READ_BYTES, task.end - pos), pos));
      if (n === 0) throw new ArkBatchError('E_INTEGRITY', 'the source got shorter between the two join passes', { file });
      pos += n;
      parser.push(buf.subarray(0, n), onRecord);
    }
    parser.end(onRecord);
    out.close(() => blocks.flush());
  } finally {
    closeSync(fd);
    out.close(() => {});
    for (const r of readers) r?.close();
  }
  return counts;
}

function source<T>(what: string, file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ArkBatchError('E_IO', `cannot ${what} the join source: ${(err as Error).message}`, { file, cause: err });
  }
}

export interface CsvJoinRangesOptions extends Omit<CsvJoinRangeTask, 'kind' | 'part' | 'cut' | 'end' | 'tailStarts' | 'dir' | 'partitions'> {
  readonly cuts: readonly SourceCut[];
  readonly size: number;
  readonly tails: MatchedTails;
  readonly pool: WorkerPool;
  /** Summed into as the parts are streamed. */
  readonly counts: JoinCounts;
}

/** The joined CSV, header first, from the ranges joined on the pool (this thread helping), in order. */
export async function* joinedCsvRanges(options: CsvJoinRangesOptions): AsyncGenerator<Buffer> {
  const { cuts, tails, pool, counts, size, ...common } = options;
  const tasks: CsvJoinRangeTask[] = cuts.map((cut, k) => ({
    ...common,
    kind: 'csv-join',
    dir: tails.dir,
    partitions: tails.partitions,
    part: k,
    cut,
    end: cuts[k + 1]?.offset ?? size,
    tailStarts: tails.marks[k]!,
  }));
  if (tasks.length === 0) return;
  const run = pool.start(tasks);
  yield Buffer.from(csvHeaderLine(common.header, common.delimiter), 'latin1');
  let next = 0;
  const part = function* (o: Outcome<JoinCounts>): Generator<Buffer> {
    if (!o.ok) throw o.error;
    for (const key of Object.keys(counts) as (keyof JoinCounts)[]) counts[key] += o.result[key];
    const path = joinedFile(tails.dir, next++);
    yield* fileChunks(path);
    unlinkSync(path);
  };
  // Between its own ranges, this thread streams out the parts done so far, in order, so that
  // writing the output overlaps the workers' ranges instead of following them.
  while (await run.helpOnce()) {
    for (let o = run.outcome(next); o !== undefined; o = run.outcome(next)) yield* part(o);
  }
  while (next < tasks.length) yield* part(await run.done(next));
}

/** A part file's bytes in blocks (each its own Buffer: the consumer may hold on to it). */
function* fileChunks(path: string): Generator<Buffer> {
  const fd = io('open', path, () => openSync(path, 'r'));
  try {
    for (;;) {
      const b = Buffer.allocUnsafe(PART_BLOCK_BYTES);
      const n = io('read', path, () => readSync(fd, b, 0, PART_BLOCK_BYTES, null));
      if (n === 0) return;
      yield n === PART_BLOCK_BYTES ? b : b.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}
