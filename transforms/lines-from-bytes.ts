/**
 * Bytes in, `Line`s out ({line, text, bytes, validUtf8}), one per physical line, blank ones
 * included: the framing `validate` needs to report physical line numbers and per-line sizes.
 */
import type { Duplex } from 'node:stream';
import { splitLines } from '../lib/jsonl/lines.ts';
import type { Line, LineOptions } from '../lib/jsonl/lines.ts';

export type LinesFromBytesOptions = LineOptions;

/** @returns a Duplex: write Buffers, read `Line` objects. Fails with E_BUFFER_LIMIT on an over-long line. */
export function linesFromBytes(options: LinesFromBytesOptions = {}): Duplex {
  return splitLines<Line>({ ...options }, (line) => line);
}
