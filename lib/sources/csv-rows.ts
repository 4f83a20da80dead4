/**
 * Turns framed CSV records into Rows: the header, column names, and per-row problems that
 * leave framing intact (ragged rows, invalid UTF-8) become `Row.error` so that the caller
 * rejects just that row. Pure: the stream shell is transforms/rows-from-csv.ts.
 */
import { ArkBatchError } from '../errors.ts';
import type { Row } from './row.ts';

export interface CsvRowBuilderOptions {
  /** The first record names the columns; when false columns are "1", "2", … @default true */
  readonly header?: boolean;
  /** File name put into error context. */
  readonly file?: string;
  /** Cells arrive as latin1 binary strings (parser option `latin1`); rows are marked `binary`. */
  readonly latin1?: boolean;
  /**
   * Columns known already (a byte range after the header, lib/requests/csv-lines-parallel.ts):
   * every record is a data row, checked against these.
   */
  readonly columns?: readonly string[];
  /** Data rows before the first one built here. @default 0 */
  readonly rowOffset?: number;
}

export interface CsvRowBuilder {
  /** Returns the Row for a record, or undefined for the header record. Throws on a bad header. */
  (cells: string[], line: number, invalidUtf8: boolean): Row | undefined;
  /** Known once the first record has been built. */
  readonly columns: readonly string[] | undefined;
  /** Counts a data row whose cells were read elsewhere (lib/requests/csv-raw-rows.ts); returns its index. */
  nextIndex(): number;
}

export function createCsvRowBuilder(options: CsvRowBuilderOptions = {}): CsvRowBuilder {
  const header = options.header ?? true;
  const file = options.file;
  const latin1 = options.latin1 ?? false;
  let columns: readonly string[] | undefined = options.columns;
  let index = options.rowOffset ?? 0;

  const build = (cells: string[], line: number, invalidUtf8: boolean): Row | undefined => {
    if (columns === undefined) {
      columns = csvColumns(cells, line, invalidUtf8, options);
      if (header) return undefined;
    }
    index++;
    let error: ArkBatchError | undefined;
    if (invalidUtf8) {
      error = new ArkBatchError('E_ENCODING', 'row is not valid UTF-8', { file, line, row: index });
    } else if (cells.length !== columns.length) {
      const what = header ? 'header has' : 'first row has';
      error = new ArkBatchError('E_ROW_INVALID', `row has ${cells.length} fields, ${what} ${columns.length}`, {
        file,
        line,
        row: index,
      });
    }
    // One object per row, with the same properties in the same order, so rows share a shape.
    if (error) return latin1 ? { index, line, columns, cells, binary: true, error } : { index, line, columns, cells, error };
    return latin1 ? { index, line, columns, cells, binary: true } : { index, line, columns, cells };
  };
  // Not Object.assign: it would copy the getter's value once instead of the getter.
  return Object.defineProperties(build, { columns: { get: () => columns }, nextIndex: { value: () => ++index } }) as CsvRowBuilder;
}

/**
 * The columns a file's first record gives: its names (checked) with a header, else "1", "2", ….
 * Throws on a bad header.
 */
export function csvColumns(cells: readonly string[], line: number, invalidUtf8: boolean, options: CsvRowBuilderOptions = {}): readonly string[] {
  if (!(options.header ?? true)) return Object.freeze(cells.map((_, i) => String(i + 1)));
  const file = options.file;
  if (invalidUtf8) throw new ArkBatchError('E_ENCODING', 'header is not valid UTF-8', { file, line });
  return Object.freeze(checkHeader(options.latin1 ? cells.map(fromBinary) : [...cells], file, line));
}

function fromBinary(cell: string): string {
  return Buffer.from(cell, 'latin1').toString('utf8');
}

function checkHeader(names: string[], file: string | undefined, line: number): string[] {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (name === '') throw new ArkBatchError('E_CSV_PARSE', `header column ${i + 1} has an empty name`, { file, line });
    if (seen.has(name)) throw new ArkBatchError('E_CSV_PARSE', `header column ${JSON.stringify(name)} appears twice`, { file, line });
    seen.add(name);
  });
  return names;
}
