/**
 * Physical lines of a UTF-8 text stream, with exact byte counts and exact UTF-8 validation.
 *
 * split2 frames the lines, but it decodes with a UTF-8 StringDecoder, which silently turns bad
 * bytes into U+FFFD and counts `maxLength` in UTF-16 units. So we hand it latin1 strings (one
 * char per byte, lossless): LF (0x0A) never occurs inside a UTF-8 multi-byte sequence, so framing
 * on it is safe, `maxLength` becomes a byte bound, and each line is then decoded strictly.
 */
import { Transform } from 'node:stream';
import type { Duplex } from 'node:stream';
import split2 from 'split2';
import { ArkBatchError } from '../errors.ts';
import { compose, mapDestroyError } from '../streams/compose.ts';

/** One physical line. `text` has no terminator (LF or CR LF) and no leading BOM on line 1. */
export interface Line {
  /** 1-based physical line number; blank lines count. */
  readonly line: number;
  /** Decoded text; when `validUtf8` is false, bad bytes are shown as U+FFFD. */
  readonly text: string;
  /** Byte length of the line without its terminator (and without a line-1 BOM). */
  readonly bytes: number;
  readonly validUtf8: boolean;
}

export interface LineOptions {
  /**
   * Longest line accepted, in bytes without the terminator; a longer one fails the stream with
   * E_BUFFER_LIMIT naming the line. Also bounds what is buffered while waiting for a newline.
   * @default 134217728 (128 MiB)
   */
  readonly maxLineBytes?: number;
  /** Source name put on errors. */
  readonly file?: string;
}

export const DEFAULT_MAX_LINE_BYTES = 128 * 1024 * 1024;

const CR = 0x0d;

/** Pure core: turns latin1-framed raw lines into `Line`s, numbering them. */
export function createLineDecoder(options: LineOptions = {}) {
  const maxLineBytes = resolveMaxLineBytes(options.maxLineBytes);
  const file = options.file;
  // Fatal decoding is the only way to notice invalid UTF-8; the lossy one is for display.
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const lossy = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  let count = 0;

  function decode(raw: string): Line {
    const line = ++count;
    let bytes = Buffer.from(raw, 'latin1');
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    if (line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    if (bytes.length > maxLineBytes) throw tooLong(line, maxLineBytes, file);
    try {
      return { line, text: strict.decode(bytes), bytes: bytes.length, validUtf8: true };
    } catch {
      // Not swallowed: the line is still delivered, flagged, for the caller to reject.
      return { line, text: lossy.decode(bytes), bytes: bytes.length, validUtf8: false };
    }
  }

  return {
    decode,
    /** Lines decoded so far. */
    get count(): number {
      return count;
    },
    maxLineBytes,
  };
}

/**
 * Bytes in, one mapped value per physical line out (`undefined` results are dropped). The
 * building block of `linesFromBytes` and `rowsFromJsonl`.
 */
export function splitLines<T>(options: LineOptions, map: (line: Line) => T | undefined): Duplex {
  const decoder = createLineDecoder(options);
  // The strings between the two stages are whole input chunks: keep that hand-off to 2 chunks.
  const toLatin1 = new Transform({
    readableObjectMode: true,
    readableHighWaterMark: 2,
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, chunk.toString('latin1'));
    },
  });
  const splitter = split2(/\n/, (raw: string) => map(decoder.decode(raw)), {
    // Slack for a pending line's CR and a line-1 BOM; the decoder enforces the exact bound.
    maxLength: decoder.maxLineBytes + 4,
    writableObjectMode: true,
    writableHighWaterMark: 2,
  });
  mapDestroyError(splitter, (err) =>
    err.message === 'maximum buffer reached' ? tooLong(decoder.count + 1, decoder.maxLineBytes, options.file) : err,
  );
  return compose(toLatin1, splitter);
}

function tooLong(line: number, maxLineBytes: number, file: string | undefined): ArkBatchError {
  return new ArkBatchError('E_BUFFER_LIMIT', `line is longer than maxLineBytes=${maxLineBytes} bytes`, { file, line });
}

function resolveMaxLineBytes(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_LINE_BYTES;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ArkBatchError('E_USAGE', `Expected maxLineBytes to be a positive integer, got ${String(value)} (${typeof value})`);
  }
  return value;
}
