/**
 * CSV bytes → batches of encoded batch lines, with no stream stage per row: the parser core,
 * the CSV row builder and the preparer called directly, their lines written straight into a
 * LineBatch. The same cores as `rowsFromCsv → prepareRequests → encodeJsonl` (the composable
 * per-row path), so the rules live in one place; only the plumbing between them is fused.
 * The stream shell is transforms/batch-lines-from-csv.ts.
 */
import { createLineBatcher, type LineBatch } from '../jsonl/line-batch.ts';
import { createCsvParser, type OnCsvRecord } from '../sources/csv-parser.ts';
import { createCsvRowBuilder } from '../sources/csv-rows.ts';
import { createCsvRawRows } from './csv-raw-rows.ts';
import { createPreparer, type PrepareOptions, type PrepareStats } from './prepare.ts';

export interface CsvLinesOptions extends PrepareOptions {
  /** Field delimiter, one single-byte character (`'\t'` for TSV). @default ',' */
  readonly delimiter?: string;
  /** The first record names the columns; when false columns are "1", "2", … @default true */
  readonly header?: boolean;
  /** Largest record in bytes before an E_BUFFER_LIMIT error. @default 134217728 (128 MiB) */
  readonly maxRecordBytes?: number;
  /** Bytes of lines gathered into one batch; a longer line gets a batch of its own. @default 262144 (256 KiB) */
  readonly batchBytes?: number;
  /** Batches in shared memory, for an output writer thread (see LineBatcherOptions.shared). @default false */
  readonly sharedBatches?: boolean;
  /**
   * Prepare whole rows straight from the bytes, rendering bodies in wasm (lib/requests/csv-raw-rows.ts);
   * false decodes every record into cells first. Same output either way. @default true
   */
  readonly rawRows?: boolean;
}

export interface CsvLinesCore {
  /** Frames and prepares every row `chunk` completes; full batches go to `out`. Throws when the run must stop. */
  push(chunk: Uint8Array, out: (batch: LineBatch) => void): void;
  /** The last row and the last, partial batch. */
  end(out: (batch: LineBatch) => void): void;
  readonly stats: PrepareStats;
}

export function createCsvLines(options: CsvLinesOptions): CsvLinesCore {
  const file = options.file;
  const toRow = createCsvRowBuilder({ header: options.header, file, latin1: true });
  const preparer = createPreparer(options);
  let out: (batch: LineBatch) => void = () => {};
  const batcher = createLineBatcher({ batchBytes: options.batchBytes ?? 1 << 18, binary: true, shared: options.sharedBatches, onBatch: (batch) => out(batch) });
  const raw = options.rawRows === false ? null : createCsvRawRows(options, toRow, preparer, batcher);
  const parser = createCsvParser({ delimiter: options.delimiter, file, maxRecordBytes: options.maxRecordBytes, latin1: true, store: raw?.store, raw: raw?.onRaw });
  // One callback for the whole run: a closure made per chunk or per row costs more than it looks.
  const onRecord: OnCsvRecord = (cells, line, invalidUtf8) => {
    // After the lines of the rows prepared from the bytes (a record that was not offered to them).
    raw?.flush();
    const row = toRow(cells, line, invalidUtf8);
    if (row !== undefined) preparer.prepareInto(row, batcher);
  };
  return {
    stats: preparer.stats,
    push(chunk, sink) {
      out = sink;
      parser.push(chunk, onRecord);
    },
    end(sink) {
      out = sink;
      parser.end(onRecord);
      raw?.flush();
      batcher.flush();
    },
  };
}
