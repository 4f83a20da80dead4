/**
 * Cuts a CSV byte stream into pieces that each hold whole records, so that workers can parse
 * the pieces independently (lib/requests/csv-lines-parallel.ts), each from a record start.
 *
 * A piece ends after a line break at even quote parity. In well-formed RFC 4180 text every
 * quote opens or closes a quoted field or is half of a `""`, so an even count of quotes since
 * the last record start means "outside quotes", and a line break there ends a record (or an
 * empty line). Text where the count misleads has a stray quote, which the parser rejects as a
 * framing error (lib/sources/csv-parser.ts) in the piece where it sits, before any later
 * piece matters. Counting quotes with the native indexOf costs ~0.3 ns a byte.
 */
import { DEFAULT_MAX_RECORD_BYTES } from './csv-parser.ts';

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

export interface CsvChunkerOptions {
  /** Bytes gathered before a cut is looked for. @default 1048576 (1 MiB) */
  readonly chunkBytes?: number;
  /**
   * Memory for a piece of `size` bytes or more, in an ArrayBuffer of its own (the caller may
   * recycle pieces it got back). @default Buffer.allocUnsafeSlow
   */
  readonly alloc?: (size: number) => Buffer;
  /**
   * Bytes gathered with no record end in them after which everything is handed on as one piece:
   * no record that long can be valid (the parser then reports it, E_BUFFER_LIMIT or a stray
   * quote), and nothing more is held. @default 134217728 (128 MiB, the parser's own limit)
   */
  readonly maxRecordBytes?: number;
}

export interface CsvChunker {
  /** Adds bytes; returns the pieces they complete (each in memory of its own, transferable). */
  push(bytes: Uint8Array): Buffer[];
  /** The rest of the input as the last piece (null when nothing is left). */
  end(): Buffer | null;
}

export function createCsvChunker(options: CsvChunkerOptions = {}): CsvChunker {
  const chunkBytes = options.chunkBytes ?? 1 << 20;
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  let parts: Uint8Array[] = [];
  let size = 0;
  // Look for a cut once this many bytes are gathered; it doubles while a huge record finds
  // none, so a long record is gathered and scanned O(1) times per byte.
  let nextTry = chunkBytes;

  const alloc = options.alloc ?? Buffer.allocUnsafeSlow;
  const gather = (): Buffer => {
    // Its own ArrayBuffer (not a pool slice), so it can be transferred to a worker.
    const all = alloc(size).subarray(0, size);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return all;
  };

  return {
    push(bytes) {
      if (bytes.length === 0) return [];
      parts.push(bytes);
      size += bytes.length;
      if (size < nextTry) return [];
      const all = gather();
      const cut = size > maxRecordBytes + chunkBytes ? size : lastRecordEnd(all);
      if (cut <= 0) {
        parts = [all];
        nextTry = Math.min(2 * size, maxRecordBytes + chunkBytes + 1);
        return [];
      }
      const rest = all.subarray(cut);
      parts = rest.length > 0 ? [Buffer.from(rest)] : [];
      size = rest.length;
      nextTry = chunkBytes;
      return [all.subarray(0, cut)];
    },
    end() {
      if (size === 0) return null;
      const all = gather();
      parts = [];
      size = 0;
      return all;
    },
  };
}

/**
 * The offset just past the last record end in `buf` (which starts at a record start), or 0.
 * One forward pass: between two quotes the parity is fixed, and in each stretch at even parity
 * the last line break is a candidate. Every byte is searched a bounded number of times, so a
 * long quoted field (or a stray quote) costs no more than any other text.
 */
export function lastRecordEnd(buf: Uint8Array): number {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  let last = 0;
  let even = true;
  for (let pos = 0; ; ) {
    const q = b.indexOf(QUOTE, pos);
    const end = q < 0 ? b.length : q;
    if (even) {
      const brk = lastBreak(b, pos, end);
      if (brk >= 0) last = brk + 1;
    }
    if (q < 0) return last;
    even = !even;
    pos = q + 1;
  }
}

/**
 * The last LF, or lone CR, in b[from, to). A CR counts only when the byte after it is known and
 * is not LF (else the LF ends the line), so a CR that ends the buffer does not.
 */
function lastBreak(b: Buffer, from: number, to: number): number {
  if (to <= from) return -1;
  const stretch = b.subarray(from, to);
  const lf = stretch.lastIndexOf(LF);
  let cr = stretch.lastIndexOf(CR);
  while (cr > lf && (from + cr + 1 >= b.length || b[from + cr + 1] === LF)) cr = cr > 0 ? stretch.lastIndexOf(CR, cr - 1) : -1;
  const at = Math.max(lf, cr);
  return at < 0 ? -1 : from + at;
}

export interface PieceCounts {
  /** Records, empty lines excluded (the header counts as a record). */
  readonly records: number;
  /** Line breaks (LF, CRLF or a lone CR, inside quoted fields too). */
  readonly lines: number;
}

/**
 * Records and line breaks of a piece that starts at a record start, as lib/sources/csv-parser.ts
 * frames them — without touching a field: quotes and line breaks are found natively and quoted
 * text is jumped. Text the parser rejects (a stray quote) may be counted differently; the run
 * stops at that piece's framing error before any count after it is used. `bom`: the piece is
 * the start of the input (a UTF-8 BOM there is not data).
 */
export function countRecords(piece: Uint8Array, bom: boolean): PieceCounts {
  const b = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length);
  const len = b.length;
  const next = (byte: number, from: number) => {
    const at = b.indexOf(byte, from);
    return at < 0 ? len : at;
  };
  let records = 0;
  let lines = 0;
  let recStart = bom && len >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  let pos = recStart;
  let q = next(QUOTE, pos);
  let lf = next(LF, pos);
  let cr = next(CR, pos);
  for (;;) {
    if (q < lf && q < cr) {
      // A quoted field: its closing quote is the next one not followed by another.
      let close = next(QUOTE, q + 1);
      while (close < len && b[close + 1] === QUOTE) close = next(QUOTE, close + 2);
      // Line breaks inside it count as lines.
      while (lf < close) {
        lines++;
        lf = next(LF, lf + 1);
      }
      while (cr < close) {
        if (b[cr + 1] !== LF) lines++;
        cr = next(CR, cr + 1);
      }
      if (close >= len) break;
      pos = close + 1;
      q = next(QUOTE, pos);
      continue;
    }
    const brk = Math.min(lf, cr);
    if (brk >= len) break;
    lines++;
    if (brk > recStart) records++;
    pos = cr === brk && b[brk + 1] === LF ? brk + 2 : brk + 1;
    recStart = pos;
    if (lf < pos) lf = next(LF, pos);
    if (cr < pos) cr = next(CR, pos);
  }
  if (recStart < len) records++;
  return { records, lines };
}
