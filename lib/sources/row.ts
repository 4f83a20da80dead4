/**
 * A source row, whatever the format. Tabular sources (CSV, TSV) give `cells` aligned with
 * `columns`; record sources (JSONL, JSON, Parquet) give `record`, whose values may nest.
 * The same shape feeds templates (prep) and joins (join), so custom_ids match exactly.
 */
import type { ArkBatchError } from '../errors.ts';

export interface Row {
  /** 1-based data row number; the header is not a row. Basis of the default `row-<n>` id. */
  readonly index: number;
  /** 1-based physical line where the row starts in a text source; absent for Parquet. */
  readonly line?: number;
  /** Column names of a tabular source (shared by all its rows, never copied). */
  readonly columns?: readonly string[];
  /** Cell texts of a tabular row, aligned with `columns`. */
  readonly cells?: readonly string[];
  /**
   * Cells are latin1 "binary strings": each char is one byte of the UTF-8 text. Set by the CSV
   * fast path; consumers that show or hash text decode with `textOf`.
   */
  readonly binary?: boolean;
  /** Values of a record row. */
  readonly record?: Readonly<Record<string, unknown>>;
  /**
   * Set when the row could be framed but not read (ragged CSV row, invalid UTF-8, a JSONL line
   * that is not an object). Downstream rejects it like any invalid row; it is never dropped.
   * Problems that break framing itself (unclosed quote at EOF) are stream errors instead.
   */
  readonly error?: ArkBatchError;
}

/** The row as a plain object (column → value), for rejects files and join output. */
export function rowToObject(row: Row): Record<string, unknown> {
  if (row.record) return { ...row.record };
  const out: Record<string, unknown> = {};
  const columns = row.columns ?? [];
  const cells = row.cells ?? [];
  const n = Math.max(columns.length, cells.length);
  for (let i = 0; i < n; i++) {
    const cell = cells[i];
    // A short (ragged) row has no cell for the last columns.
    out[columns[i] ?? `_${i + 1}`] = row.binary && cell !== undefined ? textOf(cell) : cell;
  }
  return out;
}

/** A latin1 binary string back to the text it encodes. */
export function textOf(binary: string): string {
  return Buffer.from(binary, 'latin1').toString('utf8');
}

/** Text to its latin1 binary string (its UTF-8 bytes, one char each). */
export function binaryOf(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}
