/**
 * The worker side of the parallel CSV path (lib/requests/csv-lines-parallel.ts). A worker gets
 * pieces of the input that hold whole records (lib/sources/csv-chunks.ts), each with the row and
 * line numbers it starts at and the columns, frames them and runs the whole per-row preparer
 * on their rows (template, custom_id, schema, line size), writing the lines into batches that
 * are transferred, not copied, back.
 *
 * What needs the whole input stays on the main thread, which replays the outcomes in source
 * order: custom_id uniqueness, file limits, the reject policy and the rejects file. So the
 * worker's preparer rejects without limit and records each accepted line's custom_id and row.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { ArkBatchError, serializeError, type SerializedError } from '../errors.ts';
import { createLineBatcher, type LineBatch } from '../jsonl/line-batch.ts';
import { createCsvParser, type OnCsvRecord, type OnRawCsvRecord } from '../sources/csv-parser.ts';
import { createCsvRowBuilder } from '../sources/csv-rows.ts';
import { createCsvRawRows } from './csv-raw-rows.ts';
import type { Reject } from '../validate/rejects.ts';
import { createPreparer, type PrepareOptions } from './prepare.ts';

/** What every worker is started with (plain data: it crosses the thread boundary). */
export interface CsvWorkerInit {
  readonly prepare: PrepareOptions;
  readonly delimiter?: string;
  readonly header: boolean;
  readonly maxRecordBytes?: number;
  readonly batchBytes: number;
}

export interface ToWorker {
  readonly seq: number;
  readonly data: Uint8Array;
  /** The piece starts the input (a BOM may lead it). */
  readonly first: boolean;
  /** Data rows and line breaks before the piece. */
  readonly rowOffset: number;
  readonly lineOffset: number;
  /** Undefined until the file's first record has been seen. */
  readonly columns: readonly string[] | undefined;
  /** The piece's first record is the file's header. */
  readonly skipFirst: boolean;
  /** What the main thread counted (lib/sources/csv-chunks.ts), checked against the parser's framing. */
  readonly records: number;
  readonly lines: number;
  /** Output buffers the main thread is done with, for the batcher to reuse. */
  readonly spare: readonly Uint8Array[];
}

export interface FromWorker {
  readonly seq: number;
  /** The piece's memory, handed back for the next piece. */
  readonly piece: Uint8Array;
  readonly batches: readonly { readonly data: Uint8Array; readonly ends: readonly number[] }[];
  /** The accepted lines' custom_ids (binary strings) end to end, `idLengths` long each. */
  readonly ids: string;
  readonly idLengths: readonly number[];
  readonly rows: readonly number[];
  readonly lineNumbers: readonly number[];
  /** Rejects in order. */
  readonly rejects: readonly { readonly reject: Reject; readonly error: SerializedError }[];
  /** Each row's outcome in order ({@link WRITTEN}, {@link REJECTED}, …), so the main thread counts exactly where a run stops. */
  readonly outcomes: Uint8Array;
  /** The piece ended in an error after the outcomes above. */
  readonly error?: SerializedError;
}

export const WRITTEN = 0;
export const REJECTED = 1;
export const SKIPPED = 2;
export const OTHER_SHARD = 3;

/** Serves one main thread over `port` until it closes. */
export function serveCsvLines(port: MessagePort, init: CsvWorkerInit): void {
  const handle = createPieceHandler(init);
  port.on('message', (m: ToWorker) => {
    const reply = handle(m);
    port.postMessage(reply, [reply.piece.buffer as ArrayBuffer, ...reply.batches.map((b) => b.data.buffer as ArrayBuffer)]);
  });
}

/**
 * Prepares one piece after another; the reply's buffers (the piece and the batches) belong to
 * the caller. The main thread calls it directly for inputs too small to start workers for.
 */
export function createPieceHandler(init: CsvWorkerInit): (m: ToWorker) => FromWorker {
  const file = init.prepare.file;
  // The accepted lines of the piece being prepared, recorded as the checker accepts them.
  let ids = '';
  let idLengths: number[] = [];
  let rows: number[] = [];
  let lineNumbers: number[] = [];
  let rejects: { reject: Reject; error: SerializedError }[] = [];
  let outcomes = new Uint8Array(1024);
  let nOutcomes = 0;
  // The row being prepared: its line, and the counts before it (to tell its outcome).
  let currentLine = 0;
  let linesBefore = 0;
  let rejectedBefore = 0;
  let skippedBefore = 0;
  let otherShardsBefore = 0;
  const preparer = createPreparer({
    ...init.prepare,
    ids: {
      add(id, row) {
        ids += id;
        idLengths.push(id.length);
        rows.push(row);
        lineNumbers.push(currentLine);
        return null;
      },
    },
    maxFileBytes: undefined,
    maxLines: undefined,
    maxRejects: Number.MAX_SAFE_INTEGER,
    onReject: (reject, error) => rejects.push({ reject, error: serializeError(error) }),
  });
  let batches: LineBatch[] = [];
  const batcher = createLineBatcher({ batchBytes: init.batchBytes, binary: true, onBatch: (b) => batches.push(b) });

  const stats = preparer.stats;
  const beforeRow = (line: number): void => {
    currentLine = line;
    linesBefore = idLengths.length;
    rejectedBefore = rejects.length;
    skippedBefore = stats.skipped;
    otherShardsBefore = stats.otherShards;
  };
  const afterRow = (index: number): void => {
    if (nOutcomes === outcomes.length) {
      const more = new Uint8Array(2 * nOutcomes);
      more.set(outcomes);
      outcomes = more;
    }
    if (idLengths.length > linesBefore) outcomes[nOutcomes++] = WRITTEN;
    else if (rejects.length > rejectedBefore) outcomes[nOutcomes++] = REJECTED;
    else if (stats.skipped > skippedBefore) outcomes[nOutcomes++] = SKIPPED;
    else if (stats.otherShards > otherShardsBefore) outcomes[nOutcomes++] = OTHER_SHARD;
    else throw new ArkBatchError('E_INTEGRITY', 'a row left no outcome', { file, row: index });
  };

  // The piece being prepared: its row builder, and the records framed so far.
  let toRow = createCsvRowBuilder({ header: init.header, file, latin1: true });
  let records = 0;
  let skipFirst = false;
  // Rows straight from the bytes, as on one thread (lib/requests/csv-raw-rows.ts); every piece's
  // row builder in turn, through this stand-in.
  const pieceRows = {
    get columns() {
      return toRow.columns;
    },
    nextIndex: () => (rawIndex = toRow.nextIndex()),
  };
  let rawIndex = 0;
  const raw = createCsvRawRows(init.prepare, pieceRows, preparer, batcher);
  const onRaw: OnRawCsvRecord | undefined =
    raw === null
      ? undefined
      : (buf, fields, count, line, cells) => {
          if (records === 0 && skipFirst) return false;
          beforeRow(line);
          if (!raw.onRaw(buf, fields, count, line, cells)) return false;
          records++;
          afterRow(rawIndex);
          return true;
        };
  const onRecord: OnCsvRecord = (cells, line, invalid) => {
    if (records++ === 0 && skipFirst) return;
    raw?.flush();
    const row = toRow(cells, line, invalid);
    if (row === undefined) return;
    beforeRow(line);
    preparer.prepareInto(row, batcher);
    afterRow(row.index);
  };

  // One parser for all pieces: a new one would take a new piece-sized buffer each time.
  const parser = createCsvParser({ delimiter: init.delimiter, file, maxRecordBytes: init.maxRecordBytes, latin1: true, store: raw?.store, raw: onRaw });
  return (m) => {
    for (const b of m.spare) batcher.adopt(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    let error: unknown;
    parser.reset({ bom: m.first, startLine: m.lineOffset + 1 });
    toRow = createCsvRowBuilder({ header: init.header, file, latin1: true, columns: m.columns, rowOffset: m.rowOffset });
    records = 0;
    skipFirst = m.skipFirst;
    try {
      const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      parser.push(data, onRecord);
      parser.end(onRecord);
      const lines = parser.line - 1 - m.lineOffset;
      if (records !== m.records || lines !== m.lines) {
        throw new ArkBatchError('E_INTEGRITY', `piece ${m.seq} framed as ${records} records / ${lines} lines, counted ${m.records} / ${m.lines}`, { file, line: m.lineOffset + 1 });
      }
    } catch (err) {
      error = err;
    }
    raw?.flush();
    batcher.flush();
    const out = batches.map((b) => ({ data: b.data, ends: b.ends }));
    const reply: FromWorker = {
      seq: m.seq,
      piece: m.data,
      batches: out,
      ids,
      idLengths,
      rows,
      lineNumbers,
      rejects,
      outcomes: outcomes.slice(0, nOutcomes),
      error: error === undefined ? undefined : serializeError(error),
    };
    batches = [];
    ids = '';
    idLengths = [];
    rows = [];
    lineNumbers = [];
    rejects = [];
    nOutcomes = 0;
    return reply;
  };
}
if (parentPort && (workerData as { kind?: string } | undefined)?.kind === 'csv-lines') {
  serveCsvLines(parentPort, (workerData as { init: CsvWorkerInit }).init);
}
