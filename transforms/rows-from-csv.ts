/**
 * rowsFromCsv: CSV/TSV bytes in, Row objects out. A thin shell over the byte-level parser
 * (lib/sources/csv-parser.ts) and the row builder (lib/sources/csv-rows.ts).
 */
import { Transform } from 'node:stream';
import { createCsvParser, type OnCsvRecord } from '../lib/sources/csv-parser.ts';
import { createCsvRowBuilder } from '../lib/sources/csv-rows.ts';

export interface RowsFromCsvOptions {
  /** Field delimiter, one single-byte character (`'\t'` for TSV). @default ',' */
  readonly delimiter?: string;
  /** The first record names the columns; when false columns are "1", "2", … @default true */
  readonly header?: boolean;
  /** File name used in error messages. */
  readonly file?: string;
  /** Emit cells as latin1 binary strings (`Row.binary`): the fast path of prep. @default false */
  readonly latin1?: boolean;
  /** Largest record in bytes before an E_BUFFER_LIMIT error. @default 134217728 (128 MiB) */
  readonly maxRecordBytes?: number;
  /**
   * Rows buffered on the readable side before input pauses. One input chunk may add the rows
   * it completes on top of this. @default 1024
   */
  readonly highWaterMark?: number;
}

export function rowsFromCsv(options: RowsFromCsvOptions = {}): Transform {
  const { delimiter, header, file, maxRecordBytes, latin1, highWaterMark = 1024 } = options;
  const parser = createCsvParser({ delimiter, file, maxRecordBytes, latin1 });
  const toRow = createCsvRowBuilder({ header, file, latin1 });
  const stream = new Transform({
    writableObjectMode: false,
    readableObjectMode: true,
    readableHighWaterMark: highWaterMark,
    transform(chunk: Buffer, _encoding, callback) {
      try {
        parser.push(chunk, onRecord);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback();
    },
    flush(callback) {
      try {
        parser.end(onRecord);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback();
    },
  });
  // push() results are not checked per row: Transform holds the next write until the readable
  // side drains, so the overshoot is bounded by the rows one input chunk completes.
  const onRecord: OnCsvRecord = (cells, line, invalidUtf8) => {
    const row = toRow(cells, line, invalidUtf8);
    if (row) stream.push(row);
  };
  return stream;
}
