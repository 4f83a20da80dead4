/**
 * A CSV/TSV file's rows a chunk at a time, with cells as latin1 binary strings: the join's two
 * passes over a spilled CSV source. One await per chunk instead of several per row (an
 * object-mode stream and generator levels cost ~1 s per million rows), and no UTF-8 decoding:
 * ids are hashed and cells written back as bytes. The rows are the ones `rowsFromCsv` gives
 * with `latin1` (same parser, same row builder, same errors).
 */
import { createReadStream } from 'node:fs';
import { createCsvParser, type OnCsvRecord } from '../sources/csv-parser.ts';
import { createCsvRowBuilder } from '../sources/csv-rows.ts';
import type { Row } from '../sources/row.ts';

export interface CsvRowBatchesOptions {
  /** Field delimiter. @default ',' */
  readonly delimiter?: string;
  /** The first record names the columns. @default true */
  readonly header?: boolean;
  /** Name in error messages. */
  readonly file?: string;
  /** Bytes read at a time. @default 131072 */
  readonly readBytes?: number;
}

export interface RowBatch {
  /** Never empty. */
  readonly rows: Row[];
  /** Byte offset in the file where each row's record starts. */
  readonly offsets: number[];
}

/** The rows completed by each chunk read, in order. */
export async function* csvRowBatches(path: string, options: CsvRowBatchesOptions = {}): AsyncGenerator<RowBatch> {
  const { delimiter, header, file } = options;
  const parser = createCsvParser({ delimiter, file, latin1: true });
  const toRow = createCsvRowBuilder({ header, file, latin1: true });
  let rows: Row[] = [];
  let offsets: number[] = [];
  const onRecord: OnCsvRecord = (cells, line, invalidUtf8, at) => {
    const row = toRow(cells, line, invalidUtf8);
    if (!row) return;
    rows.push(row);
    offsets.push(at);
  };
  for await (const chunk of createReadStream(path, { highWaterMark: options.readBytes ?? 1 << 17 }) as AsyncIterable<Buffer>) {
    parser.push(chunk, onRecord);
    if (rows.length > 0) {
      yield { rows, offsets };
      rows = [];
      offsets = [];
    }
  }
  parser.end(onRecord);
  if (rows.length > 0) yield { rows, offsets };
}
