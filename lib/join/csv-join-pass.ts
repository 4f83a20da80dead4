/**
 * The second pass of a spilled join from a CSV source into CSV: each source row's binary cells,
 * then its result columns as the matching phase already wrote them (lib/join/tail-files.ts),
 * as latin1 text turned into bytes once per chunk. No UTF-8 decoding, no row objects, no
 * record decoding: the bytes are those `joinedToCsv` writes for the row objects `joinResults`
 * gives (test/join-csv-pass.test.ts compares the two).
 */
import { ArkBatchError } from '../errors.ts';
import { binaryOf, type Row } from '../sources/row.ts';
import { csvCellEncoder } from './csv-batch.ts';
import { bindCsvTail, bindJoinedRow, RESULT_COLUMNS, type JoinedRowOptions } from './joined-row.ts';
import type { MatchedTails } from './result-index.ts';
import { hashOf } from './spill-tasks.ts';
import { TAIL_MISSING, TAIL_OK } from './tail-files.ts';

export interface JoinCounts {
  rows: number;
  ok: number;
  error: number;
  missing: number;
  noId: number;
}

export interface CsvJoinPassOptions extends Omit<JoinedRowOptions, 'select'> {
  /** Output delimiter (one `isSimpleDelimiter` accepts). */
  readonly delimiter: string;
  readonly tails: MatchedTails;
  /**
   * The custom_id of a binary row as the first pass listed it: `text` hashes to the partition,
   * `binary` is what the tail record's id reads back as; null without a usable id.
   */
  readonly idOf: (row: Row) => { readonly text: string; readonly binary: string } | null;
  /** Updated row by row. */
  readonly counts: JoinCounts;
}

/** The joined CSV of each batch of source rows (header first). */
export async function* joinedCsvChunks(batches: AsyncIterable<readonly Row[]>, options: CsvJoinPassOptions): AsyncGenerator<Buffer> {
  const { delimiter: d, tails, counts } = options;
  const cell = csvCellEncoder(d);
  const missingTail = binaryOf(bindCsvTail({ delimiter: d, raw: options.raw ?? false })(undefined));
  const resultCount = RESULT_COLUMNS.length + (options.raw ? 1 : 0);
  let header: string[] | null = null;
  let build: ReturnType<typeof bindJoinedRow> | null = null;
  // Output position → source cell (-1: an empty cell). Object keys that look like array
  // indexes come first in joined row objects, so the order is the header's, not the source's.
  let order: number[] = [];
  const line = (values: readonly unknown[]): string => {
    let out = values.length > 0 ? cell(values[0]) : '';
    for (let i = 1; i < values.length; i++) out += d + cell(values[i]);
    return out;
  };
  for await (const rows of batches) {
    let out = '';
    if (header === null) {
      const first = rows[0]!;
      build = bindJoinedRow(options, first);
      header = Object.keys(build(first, undefined));
      const columns = first.columns ?? [];
      order = header.slice(0, header.length - resultCount).map((k) => columns.indexOf(k));
      out += binaryOf(line(header)) + '\n';
    }
    for (const row of rows) {
      counts.rows++;
      if (row.error) {
        // Unreadable rows have no id; written from their object, as any other output does.
        counts.missing++;
        counts.noId++;
        const o = build!(row, undefined);
        out += binaryOf(line(header.map((k) => o[k]))) + '\n';
        continue;
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
        out += text + missingTail + '\n';
        continue;
      }
      const tail = tails.reader(hashOf(id.text, tails.partitions));
      if (!tail.next()) throw new ArkBatchError('E_INTEGRITY', 'the source changed between the two join passes (more rows the second time)');
      if (tail.status === TAIL_MISSING) {
        counts.missing++;
        out += text + missingTail + '\n';
        continue;
      }
      if (tail.id !== id.binary) throw new ArkBatchError('E_INTEGRITY', 'the source changed between the two join passes', { customId: id.text });
      if (tail.status === TAIL_OK) counts.ok++;
      else counts.error++;
      out += text + tail.tail + '\n';
    }
    yield Buffer.from(out, 'latin1');
  }
}
