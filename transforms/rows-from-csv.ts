/**
 * rowsFromCsv: CSV/TSV bytes in, Row objects out. A thin shell over the byte-level parser
 * (lib/sources/csv-parser.ts) and the row builder (lib/sources/csv-rows.ts).
 */
import type { Transform } from 'node:stream';
import { transformFromCore } from '../lib/streams/core-transform.ts';
import type { Row } from '../lib/sources/row.ts';
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
  const rowsOf = (emit: (row: Row) => void): OnCsvRecord => (cells, line, invalidUtf8) => {
    const row = toRow(cells, line, invalidUtf8);
    if (row) emit(row);
  };
  return transformFromCore<Row>({ push: (chunk, emit) => parser.push(chunk, rowsOf(emit)), end: (emit) => parser.end(rowsOf(emit)) }, highWaterMark);
}
