/**
 * Joined rows to CSV text, a batch at a time, through csv-stringify: the one encoder behind
 * `joinedToCsv`, whether it runs on this thread or on a worker (lib/join/csv-worker.ts).
 * null is an empty cell, nested values are JSON text, booleans are `true`/`false`.
 */
import { stringify, type Options } from 'csv-stringify/sync';

export interface CsvBatch {
  /** Rows as arrays aligned with `columns`. */
  readonly rows: unknown[][];
  /** Column names; written first when `header`. */
  readonly columns: readonly string[];
  readonly header: boolean;
  readonly delimiter: string;
}

const cast: Options['cast'] = { boolean: (v) => String(v), bigint: (v) => v.toString(), object: (v) => JSON.stringify(v) };

export function encodeCsvBatch(batch: CsvBatch): string {
  return stringify(batch.rows, { delimiter: batch.delimiter, cast, header: batch.header, columns: batch.header ? (batch.columns as string[]) : undefined });
}

/**
 * A cell value that crosses to a worker and still encodes to the same text: objects (other than
 * Dates) are turned into their JSON text here, as the `object` cast above would, since a
 * structured clone drops prototypes and so `toJSON` (a Buffer's, say). The rest clones as is.
 */
export function cloneableCell(v: unknown): unknown {
  return typeof v === 'object' && v !== null && !(v instanceof Date) ? JSON.stringify(v) : v;
}
