/**
 * CSV rows prepared straight from the bytes (lib/wasm/csv-render.ts). Once the first data row has
 * bound the precompiled body, each further record that is whole (all columns, valid UTF-8) gets
 * its custom_id cut from the bytes and its body rendered in wasm; no cell becomes a string.
 *
 * Anything else goes back to the cells path, which owns every rule: a ragged or invalid record,
 * an empty id, an empty template field under `--on-empty error|skip-row`, an `--id-template`, a
 * body that might not fit the output region. Both paths write the same bytes (tested).
 */
import type { LineBatcher } from '../jsonl/line-batch.ts';
import { CSV_FIELD_ESCAPED, type CsvBufferStore, type OnRawCsvRecord } from '../sources/csv-parser.ts';
import type { CsvRowBuilder } from '../sources/csv-rows.ts';
import type { Row } from '../sources/row.ts';
import { createCsvRenderer, RENDER_OUT_BYTES } from '../wasm/csv-render.ts';
import type { IdRule } from './custom-id.ts';
import { planSteps, putBytes, putJsonString } from './json-plan.ts';
import type { Preparer, RawBody } from './prepare.ts';
import type { OnEmpty } from './template.ts';

export interface CsvRawRows {
  /** The parser's buffer store (the bytes must be where the renderer reads them). */
  readonly store: CsvBufferStore;
  /** The parser's raw record hook. */
  readonly onRaw: OnRawCsvRecord;
  /**
   * Hands the lines gathered so far to the batcher: before any row goes there another way, and
   * at the end. A line left half-written by an error is dropped.
   */
  flush(): void;
}

interface Binding {
  readonly columns: readonly string[];
  /** The id's column, or -1 for `row-<n>`. */
  readonly idColumn: number;
  /** Column of each template slot. */
  readonly slotColumns: readonly number[];
  /** The id's slot in the program, or -1 when the id is written before it. */
  readonly idSlot: number;
  readonly head: Uint8Array;
}

/**
 * Buffer#latin1Slice: what `toString('latin1', start, end)` ends in, without its argument
 * handling (a third of the cost for a short id). Undocumented, but in every Node this package
 * supports; checked before use.
 */
type Latin1Slicer = Buffer & { latin1Slice(start: number, end: number): string };

const CLOSE = Uint8Array.of(0x7d); // }
const QUOTE = Uint8Array.of(0x22);

/** Null where the renderer cannot run; then every row takes the cells path. */
export function createCsvRawRows(
  options: { readonly id?: IdRule; readonly onEmpty?: OnEmpty },
  toRow: Pick<CsvRowBuilder, 'columns' | 'nextIndex'>,
  preparer: Preparer,
  out: LineBatcher,
): CsvRawRows | null {
  if (typeof (Buffer.prototype as Latin1Slicer).latin1Slice !== 'function') return null;
  const renderer = createCsvRenderer(out);
  if (renderer === null) return null;
  const lines = renderer.lines;
  const strictEmpty = (options.onEmpty ?? 'keep') !== 'keep';
  // undefined until the preparer is bound; null when rows cannot be prepared here.
  let binding: Binding | null | undefined;

  function bind(): Binding | null | undefined {
    const fast = preparer.fastBody;
    const columns = toRow.columns;
    if (fast === undefined || columns === undefined) return undefined;
    if (fast === null || options.id?.template !== undefined) return null;
    const idColumn = options.id?.column === undefined ? -1 : columns.indexOf(options.id.column);
    const slotColumns = fast.fields.map((f) => columns.indexOf(f));
    if ((options.id?.column !== undefined && idColumn < 0) || slotColumns.some((c) => c < 0)) return null;
    // An id from a column is one more slot: the whole line is rendered in one go. A `row-<n>`
    // id is written here first, then the rest.
    const idSlot = idColumn < 0 ? -1 : slotColumns.length;
    const prefix = idSlot < 0 ? [fast.mid] : [fast.head, QUOTE, idSlot, QUOTE, fast.mid];
    if (!renderer!.program(planSteps(fast.plan, prefix, CLOSE))) return null;
    return { columns, idColumn, slotColumns, idSlot, head: fast.head };
  }

  // The record being prepared: for `body.row()`, and the room its line may need.
  let index = 0;
  let line = 0;
  let cellsOf: () => string[] = () => [];
  let need = 0;
  const body: RawBody = {
    write(id) {
      lines.ensure(need);
      if (binding!.idSlot < 0) {
        putBytes(lines, binding!.head);
        putJsonString(lines, id);
      }
      renderer.render();
    },
    row: (): Row => ({ index, line, columns: binding!.columns, cells: cellsOf(), binary: true }),
  };

  /** Leaves the record to the cells path, after the lines before it. */
  const decline = (): false => {
    lines.flush();
    return false;
  };

  const onRaw: OnRawCsvRecord = (buf, fields, count, recordLine, cells) => {
    if (binding === undefined) {
      binding = bind();
      if (binding === undefined) return false;
    }
    if (binding === null) return false;
    if (count !== binding.columns.length) return decline();
    const { idColumn, slotColumns } = binding;
    let id = '';
    if (idColumn >= 0) {
      const k = 3 * idColumn;
      const start = fields[k]!;
      const end = fields[k + 1]!;
      if (start === end) return decline();
      id = (buf as Latin1Slicer).latin1Slice(start, end);
      if (fields[k + 2] === CSV_FIELD_ESCAPED) id = id.replaceAll('""', '"');
      renderer.setSlot(binding.idSlot, start, end);
    }
    for (let s = 0; s < slotColumns.length; s++) {
      const k = 3 * slotColumns[s]!;
      const start = fields[k]!;
      const end = fields[k + 1]!;
      if (strictEmpty && start === end) return decline();
      renderer.setSlot(s, start, end);
    }
    // A `row-<n>` id is at most 20 chars, none escaped.
    need = renderer.bound() + (binding.idSlot < 0 ? binding.head.length + 22 : 0);
    if (need >= RENDER_OUT_BYTES) return decline();
    index = toRow.nextIndex();
    if (idColumn < 0) id = `row-${index}`;
    line = recordLine;
    cellsOf = cells;
    preparer.prepareRawInto(index, line, id, lines, body);
    return true;
  };

  return {
    store: renderer.store,
    onRaw,
    flush() {
      lines.rollback();
      lines.flush();
    },
  };
}
