/**
 * JSONL bytes in, Rows out: one Row per non-blank line, `record` set or `error` set. A line that
 * is not JSON, not an object or not UTF-8 is a Row with `error`, never a stream error, so the
 * skip policy downstream decides; only an over-long line (E_BUFFER_LIMIT) stops the stream.
 */
import type { Duplex } from 'node:stream';
import { splitLines } from '../lib/jsonl/lines.ts';
import type { LineOptions } from '../lib/jsonl/lines.ts';
import { createJsonlRowReader } from '../lib/sources/jsonl.ts';
import type { Row } from '../lib/sources/row.ts';

export interface RowsFromJsonlOptions extends LineOptions {
  /**
   * Longest line accepted, in bytes.
   * @default 134217728 (128 MiB)
   */
  readonly maxLineBytes?: number;
  /** Source name put on errors. */
  readonly file?: string;
}

/** @returns a Duplex: write Buffers, read `Row` objects. */
export function rowsFromJsonl(options: RowsFromJsonlOptions = {}): Duplex {
  const { maxLineBytes, file } = options;
  return splitLines<Row>({ maxLineBytes, file }, createJsonlRowReader({ file }));
}
