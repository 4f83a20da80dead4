/**
 * Joined rows to CSV text, a batch at a time: the encoder behind `joinedToCsv`.
 *
 * csv-stringify is the reference. For the values a join produces (strings, numbers, null,
 * booleans, bigints, Dates, JSON-able objects) with a one-character delimiter, `encodeCsvBatch`
 * writes the same bytes with a few string scans per cell: the join bench showed csv-stringify's
 * per-cell option handling at half of DuckDB's whole join time on the thread that sets the pace.
 * Anything else goes to csv-stringify. test/join-parallel.test.ts checks the two agree.
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

/** csv-stringify with the join's casts. */
export function stringifyCsvBatch(batch: CsvBatch): string {
  return stringify(batch.rows, { delimiter: batch.delimiter, cast, header: batch.header, columns: batch.header ? (batch.columns as string[]) : undefined });
}

/** Thrown inside `encodeCsvBatch` for a value only csv-stringify knows how to treat. */
const UNSUPPORTED = Symbol('unsupported');

/** Whether `csvCellEncoder` can write cells for this delimiter (else only csv-stringify can). */
export function isSimpleDelimiter(d: string): boolean {
  return d.length === 1 && d !== '"' && d !== '\n' && d !== '\r';
}

/**
 * The cell encoder for a simple delimiter: the CSV text of one value, quoted when it holds a
 * quote, a line break or the delimiter. Throws `UNSUPPORTED` for values only csv-stringify knows.
 */
export function csvCellEncoder(d: string): (v: unknown) => string {
  const needsQuotes = new RegExp(`["\\n\\r${d.replace(/[\\\]^-]/g, '\\$&')}]`);
  return (v) => {
    let s: string;
    if (typeof v === 'string') s = v;
    else if (v === null || v === undefined) return '';
    else if (typeof v === 'number' || typeof v === 'bigint') s = '' + v;
    else if (typeof v === 'boolean') s = v ? 'true' : 'false';
    else if (v instanceof Date) s = '' + v.getTime();
    else if (typeof v === 'object') {
      const json = JSON.stringify(v) as string | undefined;
      if (json === undefined) return '';
      s = json;
    } else throw UNSUPPORTED;
    return needsQuotes.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
}

export function encodeCsvBatch(batch: CsvBatch): string {
  const d = batch.delimiter;
  if (!isSimpleDelimiter(d)) return stringifyCsvBatch(batch);
  const cell = csvCellEncoder(d);
  const line = (cells: readonly unknown[]): string => {
    let out = cells.length > 0 ? cell(cells[0]) : '';
    for (let i = 1; i < cells.length; i++) out += d + cell(cells[i]);
    return out + '\n';
  };
  try {
    let text = batch.header ? line(batch.columns) : '';
    for (const r of batch.rows) text += line(r);
    return text;
  } catch (err) {
    if (err === UNSUPPORTED) return stringifyCsvBatch(batch);
    throw err;
  }
}
