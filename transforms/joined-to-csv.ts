import { Transform } from 'node:stream';
import { encodeCsvBatch } from '../lib/join/csv-batch.ts';

export interface JoinedToCsvOptions {
  /** Field delimiter. @default ',' */
  readonly delimiter?: string;
  /** Write a header row (the first row's keys). @default true */
  readonly header?: boolean;
  /** Rows encoded per call. @default 512 */
  readonly batchRows?: number;
}

/**
 * Joined row objects in, CSV text out, exactly as csv-stringify writes it (lib/join/csv-batch.ts).
 * Columns are the first row's keys; null is an empty cell, nested values are JSON text, booleans
 * are `true`/`false`. Rows are encoded as arrays in batches: looking keys up in objects cost
 * more than the quoting.
 */
export function joinedToCsv(options: JoinedToCsvOptions = {}): Transform {
  const batchRows = options.batchRows ?? 512;
  const delimiter = options.delimiter ?? ',';
  let columns: string[] | null = null;
  let batch: unknown[][] = [];
  let first = true;
  const encode = () => {
    const header = first && (options.header ?? true) && columns !== null;
    first = false;
    const text = encodeCsvBatch({ rows: batch, columns: columns ?? [], header, delimiter });
    batch = [];
    return text;
  };
  return new Transform({
    writableObjectMode: true,
    writableHighWaterMark: 64,
    transform(row: Record<string, unknown>, _enc, callback) {
      columns ??= Object.keys(row);
      batch.push(columns.map((c) => row[c]));
      if (batch.length < batchRows) return callback();
      try {
        callback(null, encode());
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback) {
      if (batch.length === 0) return callback();
      try {
        callback(null, encode());
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}
