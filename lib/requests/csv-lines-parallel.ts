/**
 * The fused CSV path of `prep` (lib/requests/csv-lines.ts) on worker threads: the input is cut
 * into pieces of whole records (lib/sources/csv-chunks.ts), workers frame, build, render and
 * check them (lib/requests/csv-lines-worker.ts), and this thread puts everything back in source
 * order. It keeps what only a whole-input view can decide, replayed line by line exactly as the
 * single-thread path decides it: row and line numbers across pieces, the header, custom_id
 * uniqueness, the file limits, the reject policy (so the same reject stops the run) and the
 * rejects file. Output bytes, rejects and errors are the single-thread path's (tested).
 *
 * Numbering needs only each piece's count of records and line breaks, which this thread finds
 * natively while cutting (lib/sources/csv-chunks.ts); the worker's parser checks them.
 */
import { Transform } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { ArkBatchError, deserializeError } from '../errors.ts';
import { lineBatchOf } from '../jsonl/line-batch.ts';
import { startTsWorker } from '../streams/ts-worker.ts';
import { countRecords, createCsvChunker } from '../sources/csv-chunks.ts';
import { createCsvParser, type CsvParserOptions, type OnCsvRecord } from '../sources/csv-parser.ts';
import { csvColumns } from '../sources/csv-rows.ts';
import { createLineChecker } from '../validate/checker.ts';
import { createRejectPolicy } from '../validate/rejects.ts';
import type { CsvLinesOptions } from './csv-lines.ts';
import { createPieceHandler, REJECTED, SKIPPED, WRITTEN, type CsvWorkerInit, type FromWorker, type ToWorker } from './csv-lines-worker.ts';
import type { PrepareOptions, PrepareStats } from './prepare.ts';

export interface ParallelCsvLinesOptions extends CsvLinesOptions {
  /**
   * Threads preparing pieces, this one included: `threads - 1` workers, and this thread takes a
   * piece itself whenever every worker has {@link QUEUE_PER_WORKER} waiting.
   */
  readonly threads: number;
  /**
   * Input bytes per piece handed to a worker. Small pieces keep little memory in flight (peak
   * RSS of the 1M-row bench: 1 MiB 160 MB, 256 KiB 142 MB) at no cost in speed.
   * @default 262144 (256 KiB)
   */
  readonly chunkBytes?: number;
  /** Pieces prepared on this thread before workers start, so a small input never starts any. @default {@link LOCAL_BYTES} worth */
  readonly minPieces?: number;
}

/**
 * Whether the parallel path decides exactly like the single-thread one for these options. A
 * duplicate id found here (on the main thread) would need its source row for the rejects file,
 * which stays in the worker; with `--max-rejects 0` the duplicate stops the run instead, and
 * `row-<n>` ids cannot repeat.
 */
export function parallelCsvLinesApplies(options: PrepareOptions): boolean {
  return !options.ids || (options.maxRejects ?? 0) === 0;
}

/** The start of the input prepared on this thread: starting a worker costs more than it saves on less. */
export const LOCAL_BYTES = 8 << 20;

/** Pieces queued on a worker before this thread prepares the next one itself. */
const QUEUE_PER_WORKER = 2;

/** Output buffers sent back to a worker with each piece, at most: a few more than a piece fills. */
const SPARE_PER_PIECE = 8;

type Message = Omit<ToWorker, 'spare'> & { spare: Uint8Array[] };

/** The workers' entry, from the package root. */
const CSV_LINES_WORKER = 'lib/requests/csv-lines-worker.ts';

export function parallelBatchLinesFromCsv(options: ParallelCsvLinesOptions): Transform & { readonly stats: PrepareStats } {
  const stats: PrepareStats = { rowsRead: 0, written: 0, rejected: 0, skipped: 0, otherShards: 0, bytes: 0 };
  const file = options.file;
  const header = options.header ?? true;
  const checker = createLineChecker({ ...options, file, trustedBody: true });
  const policy = createRejectPolicy(options);
  // Memory goes round instead of being left to the garbage collectors of two threads: pieces
  // come back with their results, output batches once the sink has copied them.
  const chunkBytes = options.chunkBytes ?? 1 << 18;
  const spareIn: Buffer[] = [];
  const spareOut: Buffer[] = [];
  const chunker = createCsvChunker({
    chunkBytes,
    maxRecordBytes: options.maxRecordBytes,
    alloc(size) {
      const k = spareIn.findIndex((b) => b.length >= size);
      return k >= 0 ? spareIn.splice(k, 1)[0]! : Buffer.allocUnsafeSlow(Math.max(size, chunkBytes + (chunkBytes >> 2)));
    },
  });
  const init: CsvWorkerInit = {
    prepare: plainData(options) as PrepareOptions,
    delimiter: options.delimiter,
    header,
    maxRecordBytes: options.maxRecordBytes,
    batchBytes: options.batchBytes ?? 1 << 18,
  };
  const workers: Worker[] = [];
  const workerCount = Math.max(1, options.threads - 1);
  // Pieces a worker holds (queued or in work), by worker.
  const queued: number[] = [];
  const maxInFlight = QUEUE_PER_WORKER * workerCount + 2;
  let pieces = 0;
  let inFlight = 0;
  // Where the next piece starts, and the file's columns once its first record is seen.
  let rowOffset = 0;
  let lineOffset = 0;
  let columns: readonly string[] | undefined;
  // Results, replayed in order.
  const done = new Map<number, FromWorker>();
  let nextDone = 0;
  let resume: (() => void) | null = null;
  let finish: (() => void) | null = null;
  let failed = false;

  // The first pieces are prepared on this thread as they come (an input of fewer than
  // minPieces pieces never starts workers); the rest go to workers.
  const minPieces = options.minPieces ?? Math.ceil(LOCAL_BYTES / chunkBytes);
  // Built at once, so a bad template or id rule fails before any input, as on one thread.
  const local = createPieceHandler(init);

  const stream = new Transform({
    writableObjectMode: false,
    readableObjectMode: true,
    readableHighWaterMark: 4,
    transform(chunk: Buffer, _enc, callback) {
      feed(() => chunker.push(chunk), () => inFlight < maxInFlight, (f) => (resume = f), callback);
    },
    flush(callback) {
      feed(() => {
        const last = chunker.end();
        return last ? [last] : [];
      }, () => inFlight === 0, (f) => (finish = f), callback);
    },
    destroy(err, callback) {
      failed = true;
      // Workers still starting are terminated by startWorkers itself once they are up.
      const started = starting?.catch(() => {}) ?? Promise.resolve();
      started.then(() => Promise.all(workers.map((w) => w.terminate()))).then(() => callback(err), () => callback(err));
    },
  });

  /**
   * Sends the pieces `cut` gives, then calls back once `ready()` holds (at once, or from onDone
   * through `wait`); a start of the workers is waited for first.
   */
  function feed(cut: () => Buffer[], ready: () => boolean, wait: (f: () => void) => void, callback: (err?: Error | null) => void): void {
    let workersUp: Promise<void> | undefined;
    try {
      for (const piece of cut()) workersUp = send(number(piece)) ?? workersUp;
    } catch (err) {
      callback(err as Error);
      return;
    }
    const go = () => {
      if (ready()) callback();
      else wait(() => callback());
    };
    if (workersUp) workersUp.then(go, callback);
    else go();
  }

  const fail = (err: unknown) => {
    if (failed) return;
    failed = true;
    stream.destroy(err as Error);
  };

  let starting: Promise<void> | undefined;
  // Workers that could not start (no esbuild, no bundle): this thread prepares every piece.
  let noWorkers = false;
  async function startWorkers(): Promise<void> {
    for (let k = 0; k < workerCount; k++) {
      let w: Worker;
      try {
        // Small young generations: a piece's garbage dies within it, and the heap stays compact.
        w = startTsWorker(CSV_LINES_WORKER, { workerData: { kind: 'csv-lines', init }, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
      } catch (err) {
        if (workers.length > 0) throw err;
        noWorkers = true;
        process.emitWarning(`prep runs on one thread: no worker could start (${(err as Error).message})`);
        return;
      }
      workers.push(w);
      // Destroyed while this one started: it must not keep the process alive.
      if (failed) {
        await Promise.all(workers.map((x) => x.terminate()));
        return;
      }
      queued.push(0);
      w.on('message', (m: FromWorker) => {
        if (failed) return;
        queued[k]!--;
        try {
          onDone(m);
        } catch (err) {
          fail(err);
        }
      });
      w.on('error', fail);
      w.on('exit', (code) => {
        if (code !== 0 && !failed) fail(new ArkBatchError('E_INTEGRITY', `a prep worker stopped with exit code ${code}`, { file }));
      });
    }
  }

  /** The piece with the row and line numbers it starts at (and the columns, from the first record). */
  function number(piece: Buffer): Message {
    const seq = pieces++;
    const first = seq === 0;
    const counts = countRecords(piece, first);
    let skipFirst = false;
    if (columns === undefined && counts.records > 0) {
      // The file's first record: the header, or the first row fixing the column count.
      const head = firstRecord(piece, { delimiter: options.delimiter, file, maxRecordBytes: options.maxRecordBytes, latin1: true, bom: first, startLine: lineOffset + 1 });
      columns = csvColumns(head.cells, head.line, head.invalid, { header, file, latin1: true });
      skipFirst = header;
    }
    const message: Message = { seq, data: piece, first, rowOffset, lineOffset, columns, skipFirst, records: counts.records, lines: counts.lines, spare: [] };
    rowOffset += counts.records - (skipFirst ? 1 : 0);
    lineOffset += counts.lines;
    inFlight++;
    return message;
  }

  /** Prepares the piece here or hands it to a worker; returns a promise while workers are starting. */
  function send(m: Message): Promise<void> | undefined {
    if (failed) return undefined;
    if (m.seq >= minPieces && workers.length < workerCount && !noWorkers) {
      // Pieces that come while the workers start wait for them, in order.
      starting ??= startWorkers();
      return starting.then(() => send(m));
    }
    // The least busy worker, unless all have enough queued and this thread may help.
    let k = -1;
    for (let j = 0; j < workers.length; j++) if (k < 0 || queued[j]! < queued[k]!) k = j;
    m.spare = spareOut.splice(0, SPARE_PER_PIECE);
    if (k < 0 || (queued[k]! >= QUEUE_PER_WORKER && options.threads > workers.length)) {
      onDone(local(m));
      return undefined;
    }
    queued[k]!++;
    workers[k]!.postMessage(m, [m.data.buffer as ArrayBuffer, ...m.spare.map((b) => b.buffer as ArrayBuffer)]);
    return undefined;
  }

  function onDone(m: FromWorker): void {
    done.set(m.seq, m);
    for (let d = done.get(nextDone); d !== undefined; d = done.get(nextDone)) {
      done.delete(nextDone);
      nextDone++;
      replay(d);
      inFlight--;
    }
    if (resume && inFlight < maxInFlight) {
      const r = resume;
      resume = null;
      r();
    }
    if (finish && inFlight === 0) {
      const f = finish;
      finish = null;
      f();
    }
  }

  const recycle = (data: Buffer) => {
    if (data.buffer.byteLength === init.batchBytes && spareOut.length < 2 * SPARE_PER_PIECE) spareOut.push(Buffer.from(data.buffer));
  };

  /** The piece's outcomes through the checks of the whole input, row by row, then its lines downstream. */
  function replay(d: FromWorker): void {
    // Only piece-sized memory comes round: a huge record's is let go.
    if (spareIn.length < maxInFlight && d.piece.buffer.byteLength <= 2 * chunkBytes) spareIn.push(Buffer.from(d.piece.buffer));
    let line = 0;
    let reject = 0;
    // The next line's place: batch `b`, its `k`-th line, which starts at `start`.
    let b = 0;
    let k = 0;
    let start = 0;
    let idAt = 0;
    for (const outcome of d.outcomes) {
      stats.rowsRead++;
      if (outcome === WRITTEN) {
        while (k === d.batches[b]!.ends.length) {
          b++;
          k = 0;
          start = 0;
        }
        const end = d.batches[b]!.ends[k++]!;
        const bytes = end - start - 1;
        start = end;
        const id = d.ids.slice(idAt, idAt + d.idLengths[line]!);
        idAt += d.idLengths[line]!;
        const problem = checker.admit(id, bytes, { row: d.rows[line], line: d.lineNumbers[line], binary: true });
        line++;
        if (problem !== null) {
          stats.rejected++;
          policy.reject(problem);
          // parallelCsvLinesApplies rules out a reject that does not stop the run here.
          throw new ArkBatchError('E_INTEGRITY', `a line rejected after its piece was written: ${problem.message}`, { file });
        }
        stats.written++;
        stats.bytes += bytes + 1;
      } else if (outcome === REJECTED) {
        const r = d.rejects[reject++]!;
        stats.rejected++;
        policy.reject(deserializeError(r.error) as ArkBatchError, () => r.reject.source);
      } else if (outcome === SKIPPED) {
        stats.skipped++;
      } else {
        stats.otherShards++;
      }
    }
    if (d.error) throw deserializeError(d.error);
    for (const b of d.batches) {
      if (b.ends.length > 0) stream.push(lineBatchOf(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength), b.ends, recycle));
    }
  }

  return Object.assign(stream, { stats });
}

/** The piece's first record, framed by the parser itself (a throw ends the scan early). */
function firstRecord(piece: Buffer, options: CsvParserOptions): { cells: string[]; line: number; invalid: boolean } {
  const parser = createCsvParser(options);
  let head: { cells: string[]; line: number; invalid: boolean } | undefined;
  const stop = new Error('first record');
  const onRecord: OnCsvRecord = (cells, line, invalid) => {
    head = { cells, line, invalid };
    throw stop;
  };
  try {
    parser.push(piece, onRecord);
    parser.end(onRecord);
  } catch (err) {
    if (err !== stop) throw err;
  }
  if (!head) throw new ArkBatchError('E_INTEGRITY', 'a piece counted with records has none', { file: options.file });
  return head;
}

/** The options' plain data (no functions, streams or trackers), which is what a worker needs. */
function plainData(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? undefined : value;
  if (Array.isArray(value)) return value.map(plainData);
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const p = plainData(v);
    if (p !== undefined) out[k] = p;
  }
  return out;
}
