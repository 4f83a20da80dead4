/**
 * The second pass of a spilled join from a CSV source into CSV: each source row's binary cells,
 * then its result columns as the matching phase already wrote them (lib/join/tail-files.ts),
 * as latin1 text turned into bytes once per chunk. No UTF-8 decoding, no row objects, no
 * record decoding: the bytes are those `joinedToCsv` writes for the row objects `joinResults`
 * gives (test/join-csv-pass.test.ts compares the two). Pure but for the tail readers, so the
 * same code joins the whole source here or a byte range of it in a worker
 * (lib/join/csv-join-range.ts).
 */
import { ArkBatchError } from '../errors.ts';
import { bindIdRule, type IdMaker, type IdRule } from '../requests/custom-id.ts';
import { binaryOf, textOf, type Row } from '../sources/row.ts';
import { csvCellEncoder } from './csv-batch.ts';
import { bindCsvTail, bindJoinedRow, RESULT_COLUMNS, type JoinedRowOptions } from './joined-row.ts';
import { hashOf } from './spill-tasks.ts';
import { TAIL_MISSING, TAIL_OK, type TailReader } from './tail-files.ts';

const NOT_ASCII = /[^\x00-\x7f]/;

export interface JoinCounts {
  rows: number;
  ok: number;
  error: number;
  missing: number;
  noId: number;
}

export const noCounts = (): JoinCounts => ({ rows: 0, ok: 0, error: 0, missing: 0, noId: 0 });

/** The custom_id of a binary row: `text` hashes to its partition, `binary` is how a tail record's id reads back. */
export interface BinaryId {
  readonly text: string;
  readonly binary: string;
}

/**
 * The id rule over binary (latin1) rows. An id made of latin1 cells is the UTF-8 of the one made
 * of text cells (templates are converted alike), so decoding it gives the same id. Null: no
 * usable id (an unreadable row or an empty id).
 */
export function binaryIdOf(rule: IdRule, file: string): (row: Row) => BinaryId | null {
  let maker: IdMaker | null = null;
  return (row) => {
    maker ??= bindIdRule(rule, row, file);
    const id = row.error ? null : maker(row);
    return typeof id !== 'string' ? null : { text: NOT_ASCII.test(id) ? textOf(id) : id, binary: id };
  };
}

/** Where the row joiner finds each partition's next tail. */
export interface TailSource {
  readonly partitions: number;
  reader(p: number): TailReader;
}

export interface CsvRowJoinerOptions extends Omit<JoinedRowOptions, 'select'> {
  /** Output delimiter (one `isSimpleDelimiter` accepts). */
  readonly delimiter: string;
  /** The output's column names (`csvJoinHeader`). */
  readonly header: readonly string[];
  readonly tails: TailSource;
  readonly idOf: (row: Row) => BinaryId | null;
  /** Updated row by row. */
  readonly counts: JoinCounts;
}

/** The output's column names: the keys of the first row's joined object, as `joinedToCsv` takes them. */
export function csvJoinHeader(firstRow: Row, options: Omit<JoinedRowOptions, 'select'>): string[] {
  return Object.keys(bindJoinedRow(options, firstRow)(firstRow, undefined));
}

/** The CSV text of a header or any values, without the line end. */
function bindCsvLine(d: string): (values: readonly unknown[]) => string {
  const cell = csvCellEncoder(d);
  return (values) => {
    let out = values.length > 0 ? cell(values[0]) : '';
    for (let i = 1; i < values.length; i++) out += d + cell(values[i]);
    return out;
  };
}

/** The header line as latin1 text. */
export function csvHeaderLine(header: readonly string[], delimiter: string): string {
  return binaryOf(bindCsvLine(delimiter)(header)) + '\n';
}

/** Binds to any row of the source (for its columns); returns the joined line of a row as latin1 text. */
export function bindCsvRowJoiner(anyRow: Row, options: CsvRowJoinerOptions): (row: Row) => string {
  const { delimiter: d, header, tails, counts } = options;
  const cell = csvCellEncoder(d);
  const line = bindCsvLine(d);
  const missingTail = binaryOf(bindCsvTail({ delimiter: d, raw: options.raw ?? false })(undefined));
  const build = bindJoinedRow(options, anyRow);
  const columns = anyRow.columns ?? [];
  const resultCount = RESULT_COLUMNS.length + (options.raw ? 1 : 0);
  // Output position → source cell (-1: an empty cell). Object keys that look like array
  // indexes come first in joined row objects, so the order is the header's, not the source's.
  const order = header.slice(0, header.length - resultCount).map((k) => columns.indexOf(k));
  return (row) => {
    counts.rows++;
    if (row.error) {
      // Unreadable rows have no id; written from their object, as any other output does.
      counts.missing++;
      counts.noId++;
      const o = build(row, undefined);
      return binaryOf(line(header.map((k) => o[k]))) + '\n';
    }
    const cells = row.cells!;
    let text = '';
    for (let i = 0; i < order.length; i++) {
      const at = order[i]!;
      if (i > 0) text += d;
      if (at >= 0) text += cell(cells[at]);
    }
    if (order.length > 0) text += d;
    const id = options.idOf(row);
    if (id === null) {
      counts.missing++;
      counts.noId++;
      return text + missingTail + '\n';
    }
    const tail = tails.reader(hashOf(id.text, tails.partitions));
    if (!tail.next()) throw new ArkBatchError('E_INTEGRITY', 'the source changed between the two join passes (more rows the second time)');
    if (tail.status === TAIL_MISSING) {
      counts.missing++;
      return text + missingTail + '\n';
    }
    if (tail.id !== id.binary) throw new ArkBatchError('E_INTEGRITY', 'the source changed between the two join passes', { customId: id.text });
    if (tail.status === TAIL_OK) counts.ok++;
    else counts.error++;
    return text + tail.tail + '\n';
  };
}

/**
 * Latin1 text gathered into blocks of bytes, each handed on when full (a Buffer of its own).
 * Writing line by line beats one `Buffer.from` of a long concatenation by 2× (which flattens a
 * rope of a thousand pieces first).
 */
export class Latin1Blocks {
  readonly #blockBytes: number;
  readonly #emit: (block: Buffer) => void;
  readonly #reuse: boolean;
  #buf: Buffer;
  #used = 0;
  /** `reuse`: `emit` is done with a block when it returns (a sync write), so one block serves throughout. */
  constructor(blockBytes: number, emit: (block: Buffer) => void, options: { readonly reuse?: boolean } = {}) {
    this.#blockBytes = blockBytes;
    this.#emit = emit;
    this.#reuse = options.reuse ?? false;
    this.#buf = Buffer.allocUnsafe(blockBytes);
  }
  push(text: string): void {
    if (this.#used + text.length > this.#buf.length) {
      this.flush();
      if (text.length > this.#buf.length) {
        this.#emit(Buffer.from(text, 'latin1'));
        return;
      }
    }
    this.#used += this.#buf.write(text, this.#used, 'latin1');
  }
  /** Hands on what is gathered (if anything) and starts a new block. */
  flush(): void {
    if (this.#used === 0) return;
    this.#emit(this.#buf.subarray(0, this.#used));
    if (!this.#reuse) this.#buf = Buffer.allocUnsafe(this.#blockBytes);
    this.#used = 0;
  }
}

/** The joined CSV of each batch of source rows, header first, on this thread. */
export async function* joinedCsvChunks(
  batches: AsyncIterable<{ readonly rows: readonly Row[] }>,
  options: Omit<CsvRowJoinerOptions, 'header'>,
): AsyncGenerator<Buffer> {
  let join: ((row: Row) => string) | null = null;
  const ready: Buffer[] = [];
  const out = new Latin1Blocks(1 << 18, (b) => ready.push(b));
  for await (const { rows } of batches) {
    if (join === null) {
      const header = csvJoinHeader(rows[0]!, options);
      join = bindCsvRowJoiner(rows[0]!, { ...options, header });
      out.push(csvHeaderLine(header, options.delimiter));
    }
    for (const row of rows) out.push(join(row));
    if (ready.length > 0) yield* ready.splice(0);
  }
  out.flush();
  yield* ready;
}
