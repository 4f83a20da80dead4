/**
 * Byte-level CSV/TSV framing (RFC 4180), free of stream plumbing so that it can run in a
 * Transform, in a sync loop, or in a worker on a byte range that starts at a record start.
 *
 * Dialect: one single-byte delimiter, quote `"`, `""` inside quoted fields, newlines inside
 * quoted fields, records end at LF, CRLF or a lone CR, a UTF-8 BOM at the very start is dropped,
 * the last record may lack a final newline, and empty lines are skipped (they still count as
 * lines). Errors, like csv-parse's defaults: a quote inside an unquoted field, a character
 * after a closing quote, an unclosed quote at the end (naming the line where it opened).
 *
 * The reference is csv-parse with {@link CSV_PARSE_REFERENCE_OPTIONS}; the tests compare the two.
 * One deliberate difference: csv-parse fixes the record delimiter to the first one it meets and
 * keeps other line ends inside unquoted fields, while we end a record at any of LF, CRLF, CR.
 * Files whose records all end the same way parse identically.
 *
 * Speed comes from never touching a field byte by byte in JS where a native scan will do
 * (quoted text is jumped with indexOf) and from decoding each record with one native call.
 */
import { isUtf8 } from 'node:buffer';
import { ArkBatchError } from '../errors.ts';

export interface CsvParserOptions {
  /** Field delimiter, one single-byte character (`'\t'` for TSV). @default ',' */
  readonly delimiter?: string;
  /** Largest record (bytes, delimiters and quotes included) before E_BUFFER_LIMIT. @default 134217728 (128 MiB) */
  readonly maxRecordBytes?: number;
  /** Drop a UTF-8 BOM at the start of the input. Turn off when starting mid-file. @default true */
  readonly bom?: boolean;
  /** Physical line number of the first byte pushed (for byte-range workers). @default 1 */
  readonly startLine?: number;
  /** Absolute byte offset of the first byte pushed, reported back per record. @default 0 */
  readonly startOffset?: number;
  /** File name put into error context. */
  readonly file?: string;
  /**
   * Decode cells as latin1 "binary strings" (one char per byte; the UTF-8 bytes pass through
   * untouched). Several times cheaper to decode, escape and write back than UTF-16 text, and
   * lossless: `Buffer.from(cell, 'latin1')` is the cell's UTF-8. Validity is still checked.
   * @default false
   */
  readonly latin1?: boolean;
  /** Where the parser keeps the bytes it frames (the record in progress and the chunk after it). @default plain Buffers */
  readonly store?: CsvBufferStore;
  /** Offered each valid UTF-8 record before its cells are decoded (see {@link OnRawCsvRecord}). */
  readonly raw?: OnRawCsvRecord;
}

/** The parser's byte buffer, for a caller that needs the bytes somewhere in particular (lib/wasm/csv-render.ts). */
export interface CsvBufferStore {
  /** A buffer of `size` bytes whose first `keep` bytes are those of the one returned last (none at first). */
  resize(size: number, keep: number): Buffer;
  /**
   * Frames records of the current buffer natively, from `from` (a record start) up to `to`, as
   * long as each is whole and plain (the scan's own code handles empty lines, lone CRs, errors,
   * a record cut by `to`). Returns a table: count, the next record's start, then per record its
   * content end, next start, line breaks inside and field count, and `[start, end, kind]` per
   * field (kinds as in this file). Valid until the next call.
   */
  records?(from: number, to: number, delimiter: number): Int32Array;
}

/**
 * A record's fields before decoding, for a caller that reads them from the bytes: `fields`
 * holds `[start, end, kind]` for each of the `count` fields, positions in `buf`; a quoted
 * field's span is its inside, and kind {@link CSV_FIELD_ESCAPED} marks one that holds `""`.
 * All of it is valid only during the call. Returns true when it took the record, false to get
 * it as cells through `onRecord` after all; `cells()` decodes them meanwhile (for a reject).
 */
export type OnRawCsvRecord = (buf: Buffer, fields: readonly number[], count: number, line: number, cells: () => string[]) => boolean;

/**
 * Called once per record. `cells` is a fresh array owned by the callee; `line` is the 1-based
 * physical line where the record starts; `invalidUtf8` is true when the record's bytes are not
 * valid UTF-8 (its cells then hold U+FFFD); `offset` is the absolute byte offset of the record.
 */
export type OnCsvRecord = (cells: string[], line: number, invalidUtf8: boolean, offset: number) => void;

export interface CsvParser {
  /**
   * Frames every record completed by `chunk`. Throws ArkBatchError on a framing error; after a
   * throw (its own or one from `onRecord`) the parser must not be used again.
   */
  push(chunk: Uint8Array, onRecord: OnCsvRecord): void;
  /** Flushes the last record (no final newline needed). Throws on an unclosed quote. */
  end(onRecord: OnCsvRecord): void;
  /** Physical line of the next byte to scan: after `end()`, 1 + the line breaks seen (relative to `startLine`). */
  readonly line: number;
  /**
   * Starts over on another input (a worker's next byte range) with these position options,
   * keeping the memory of the last one.
   */
  reset(options?: Pick<CsvParserOptions, 'bom' | 'startLine' | 'startOffset'>): void;
}

/** csv-parse options under which csv-parse and this parser agree (used by the differential tests). */
export const CSV_PARSE_REFERENCE_OPTIONS = {
  bom: true,
  skip_empty_lines: true,
  relax_column_count: true,
} as const;

export const DEFAULT_MAX_RECORD_BYTES = 128 * 1024 * 1024;

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

// Scanner states; the parser can stop in any of them at a chunk boundary and resume.
const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;

// Field kinds, stored next to each field's byte span.
const PLAIN = 0;
const QUOTED_PLAIN = 1;
const ESCAPED = 2;
/** Kind of a quoted field with `""` inside (see OnRawCsvRecord). */
export const CSV_FIELD_ESCAPED = ESCAPED;
const PLAIN_U = 3; // unquoted, with non-ASCII bytes

/** rs[from, to) with each `""` made `"`; slices joined lazily beat replaceAll on a slice. */
function unescape(rs: string, from: number, to: number): string {
  let out = '';
  let p = from;
  for (let q = rs.indexOf('""', p); q !== -1 && q < to; q = rs.indexOf('""', p)) {
    out += rs.slice(p, q + 1);
    p = q + 2;
  }
  return out + rs.slice(p, to);
}

/** Checks a delimiter option: one character that is one byte in UTF-8 and not a quote or newline. */
export function delimiterByte(delimiter: string): number {
  const bytes = Buffer.from(delimiter, 'utf8');
  if (bytes.length !== 1 || bytes[0] === QUOTE || bytes[0] === LF || bytes[0] === CR) {
    throw new ArkBatchError(
      'E_USAGE',
      `Expected a single-byte delimiter other than quote, CR or LF, got ${JSON.stringify(delimiter)} (${typeof delimiter})`,
    );
  }
  return bytes[0];
}

export function createCsvParser(options: CsvParserOptions = {}): CsvParser {
  const D = delimiterByte(options.delimiter ?? ',');
  const delimChar = String.fromCharCode(D);
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (!Number.isInteger(maxRecordBytes) || maxRecordBytes < 1) {
    throw new ArkBatchError('E_USAGE', `Expected maxRecordBytes to be a positive integer, got ${maxRecordBytes} (${typeof maxRecordBytes})`);
  }
  const file = options.file;
  const store = options.store;
  const records = store?.records?.bind(store);
  const raw = options.raw;
  // Records are decoded with toString, not Buffer#latin1Slice: calling that directly for every
  // record once measured 150–200 MB peak RSS instead of 107 (session 3, back to back; not
  // explained, and possibly the output queues that filled under write throttling, found later).
  // Whole rows on the raw path (lib/requests/csv-raw-rows.ts) decode nothing but their id.
  const encoding: BufferEncoding = options.latin1 ? 'latin1' : 'utf8';
  let bomPending: boolean;

  // The unparsed tail (the record in progress) lives at the front of `buf`; new chunks are
  // appended, so a huge record is copied O(1) times amortized instead of once per chunk.
  let buf: Buffer = Buffer.alloc(0);
  let len: number;
  // Absolute offset of buf[0] in the input.
  let base: number;

  let state: number;
  let pos: number; // next byte to scan
  let recStart: number; // first byte of the record in progress
  let recLine: number;
  let line: number; // line at `pos`
  let fieldStart: number;
  let quoteLine: number;
  let escaped: boolean; // the quoted field in progress contains ""
  // Field boundaries of the record in progress: [start, end, kind] triples (buf positions).
  const fields: number[] = [];
  let nf: number;
  // buf[0, validUpTo) is known to be valid UTF-8. `stuck` means the bytes right after it failed,
  // so later records are checked one by one until the failing region has been consumed.
  let validUpTo: number;
  let stuck: boolean;
  let ended: boolean;
  function start(at: Pick<CsvParserOptions, 'bom' | 'startLine' | 'startOffset'>): void {
    bomPending = at.bom ?? true;
    len = 0;
    base = at.startOffset ?? 0;
    state = FIELD_START;
    pos = 0;
    recStart = 0;
    recLine = at.startLine ?? 1;
    line = recLine;
    fieldStart = 0;
    quoteLine = 0;
    escaped = false;
    nf = 0;
    validUpTo = 0;
    stuck = false;
    ended = false;
  }
  start(options);
  // Scan-local: the bytes being scanned and cached positions of the next LF / CR in them.
  let view: Buffer = buf;
  let nextLF = -1;
  let nextCR = -1;

  const fail = (detail: string, at: number): never => {
    throw new ArkBatchError('E_CSV_PARSE', detail, { file, line: at });
  };

  function resize(size: number): Buffer {
    if (store !== undefined) return store.resize(size, len);
    const next = Buffer.allocUnsafe(size);
    buf.copy(next, 0, 0, len);
    return next;
  }

  function append(chunk: Uint8Array): void {
    // Drop the consumed head first so the buffer only ever holds the record in progress.
    if (recStart > 0) {
      buf.copyWithin(0, recStart, len);
      len -= recStart;
      pos -= recStart;
      fieldStart -= recStart;
      for (let k = 0; k < nf; k += 3) {
        fields[k] -= recStart;
        fields[k + 1] -= recStart;
      }
      validUpTo = stuck ? 0 : Math.max(0, validUpTo - recStart);
      stuck = false;
      base += recStart;
      recStart = 0;
    }
    const need = len + chunk.length;
    // Give back the room a huge record needed once it is gone.
    if (buf.length > 1 << 20 && need * 4 < buf.length) buf = resize(Math.max(need * 2, 65536));
    if (need > buf.length) buf = resize(Math.max(need, Math.min(buf.length * 2, maxRecordBytes + chunk.length), 65536));
    buf.set(chunk, len);
    len = need;
    // One native validation per chunk covers all its records; only records in a region that
    // fails are checked alone. A character split by the chunk end is left for the next check.
    if (stuck) return;
    let cut = len;
    let k = len - 1;
    while (k > validUpTo && len - k < 4 && (buf[k] & 0xc0) === 0x80) k--;
    if (k >= validUpTo) {
      const lead = buf[k];
      if (k + (lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1) > len) cut = k;
    }
    if (cut <= validUpTo) return;
    if (isUtf8(buf.subarray(validUpTo, cut))) validUpTo = cut;
    else stuck = true;
  }

  /**
   * Decodes the record with one native call and cuts cells from the string: per-field decoding
   * costs a native call per cell, which dominated. Delimiter, quote, CR and LF are ASCII, and
   * UTF-8 decoding (even with U+FFFD replacement) never swallows an ASCII byte, so the string
   * has the same structure as the bytes.
   */
  function decodeCells(recEnd: number): string[] {
    const n = nf / 3;
    const cells = new Array<string>(n);
    const rs = buf.toString(encoding, recStart, recEnd);
    // While every byte so far was ASCII, byte offsets are string offsets; the first field that
    // may hold non-ASCII text ends that, and from there on the cuts are found in the string.
    let aligned = true;
    const allAscii = rs.length === recEnd - recStart;
    let cs = 0;
    for (let k = 0, f = 0; f < n; f++, k += 3) {
      const kind = fields[k + 2];
      if (aligned) {
        const a = fields[k] - recStart;
        if (allAscii || kind === PLAIN) {
          const e = fields[k + 1] - recStart;
          cells[f] = kind === ESCAPED ? unescape(rs, a, e) : rs.slice(a, e);
          continue;
        }
        if (f === n - 1) {
          // The last field ends where the record does (minus its closing quote).
          const e = kind === PLAIN_U ? rs.length : rs.length - 1;
          cells[f] = kind === ESCAPED ? unescape(rs, a, e) : rs.slice(a, e);
          continue;
        }
        aligned = false;
        cs = kind === PLAIN_U ? a : a - 1;
      }
      if (kind === PLAIN || kind === PLAIN_U) {
        const e = f === n - 1 ? rs.length : rs.indexOf(delimChar, cs);
        cells[f] = rs.slice(cs, e);
        cs = e + 1;
      } else {
        let q = rs.indexOf('"', cs + 1);
        if (kind === ESCAPED) {
          while (rs.charCodeAt(q + 1) === QUOTE) q = rs.indexOf('"', q + 2);
          cells[f] = unescape(rs, cs + 1, q);
        } else {
          cells[f] = rs.slice(cs + 1, q);
        }
        cs = q + 2;
      }
    }
    return cells;
  }

  // The record `raw` is looking at, for its `cells()`.
  let rawEnd = 0;
  const rawCells = () => decodeCells(rawEnd);

  function emit(recEnd: number, onRecord: OnCsvRecord): void {
    const invalid = recEnd > validUpTo && !isUtf8(buf.subarray(recStart, recEnd));
    if (raw !== undefined && !invalid) {
      rawEnd = recEnd;
      if (raw(buf, fields, nf / 3, recLine, rawCells)) {
        nf = 0;
        return;
      }
    }
    const cells = decodeCells(recEnd);
    nf = 0;
    onRecord(cells, recLine, invalid, base + recStart);
  }

  /** Adds the line breaks in view[from, to) to `line`; LF, CRLF and a lone CR count once. */
  function countBreaks(from: number, to: number): void {
    if (nextLF < from) nextLF = indexOrEnd(LF, from);
    while (nextLF < to) {
      line++;
      nextLF = indexOrEnd(LF, nextLF + 1);
    }
    if (nextCR < from) nextCR = indexOrEnd(CR, from);
    while (nextCR < to) {
      if (view[nextCR + 1] !== LF) line++;
      nextCR = indexOrEnd(CR, nextCR + 1);
    }
  }

  function hasHighByte(from: number, to: number): boolean {
    for (let k = from; k < to; k++) if (buf[k] >= 0x80) return true;
    return false;
  }

  function indexOrEnd(byte: number, from: number): number {
    const at = view.indexOf(byte, from);
    return at < 0 ? view.length : at;
  }

  function checkSize(upTo: number): void {
    if (upTo - recStart > maxRecordBytes) {
      throw new ArkBatchError(
        'E_BUFFER_LIMIT',
        `record exceeds maxRecordBytes (${maxRecordBytes} bytes); raise maxRecordBytes if the input is right`,
        { file, line: recLine },
      );
    }
  }

  /**
   * Emits the records the store frames natively from `i` (a record start), the same way the
   * scan below would; returns where the next record starts (`i` when none was framed).
   */
  function framedRecords(i: number, end: number, onRecord: OnCsvRecord): number {
    const t = records!(i, end, D);
    const n = t[0]!;
    let k = 2;
    for (let r = 0; r < n; r++) {
      const recEnd = t[k]!;
      const next = t[k + 1]!;
      const breaks = t[k + 2]!;
      const count = t[k + 3]!;
      k += 4;
      for (let f = 0; f < 3 * count; f++) fields[f] = t[k + f]!;
      k += 3 * count;
      nf = 3 * count;
      checkSize(recEnd);
      emit(recEnd, onRecord);
      line += breaks + 1;
      recStart = next;
      recLine = line;
    }
    return n === 0 ? i : t[1]!;
  }

  /**
   * Scans buf[pos, len). Stops early (leaving state to resume) when a decision needs a byte that
   * has not arrived yet, unless `final`.
   */
  function scan(onRecord: OnCsvRecord, final: boolean): void {
    let i = pos;
    const end = len;
    const b = buf;
    view = b.subarray(0, end);
    nextLF = -1;
    nextCR = -1;
    for (;;) {
      if (state === FIELD_START) {
        if (nf === 0 && records !== undefined && i < end) {
          const framed = framedRecords(i, end, onRecord);
          if (framed !== i) {
            i = framed;
            continue;
          }
        }
        if (i >= end) {
          if (final && nf > 0) {
            // `a,` at EOF: the record ends with an empty field.
            fields[nf++] = i;
            fields[nf++] = i;
            fields[nf++] = PLAIN;
            checkSize(i);
            emit(i, onRecord);
            recStart = i;
          }
          break;
        }
        const c = b[i];
        if (c === QUOTE) {
          state = QUOTED;
          fieldStart = i + 1;
          quoteLine = line;
          escaped = false;
          i++;
          continue;
        }
        if ((c === LF || c === CR) && nf === 0) {
          // An empty line: skipped, but counted.
          if (c === CR) {
            if (i + 1 >= end && !final) break;
            if (b[i + 1] === LF) i++;
          }
          i++;
          line++;
          recStart = i;
          recLine = line;
          continue;
        }
        state = UNQUOTED;
        fieldStart = i;
      }
      if (state === UNQUOTED) {
        let j = i;
        let c = 0;
        let high = 0;
        while (j < end) {
          c = b[j];
          if (c === D || (c <= QUOTE && (c === LF || c === CR || c === QUOTE))) break;
          high |= c;
          j++;
        }
        // Bytes before `i` were checked by an earlier scan that stopped mid-field.
        const nonAscii = high >= 0x80 || (i > fieldStart && hasHighByte(fieldStart, i));
        if (j >= end) {
          i = j;
          if (final) {
            fields[nf++] = fieldStart;
            fields[nf++] = j;
            fields[nf++] = nonAscii ? PLAIN_U : PLAIN;
            checkSize(j);
            emit(j, onRecord);
            recStart = j;
            state = FIELD_START;
          }
          break;
        }
        if (c === QUOTE) fail(`Unexpected quote inside unquoted field ${nf / 3 + 1}; quote the whole field and double inner quotes`, line);
        if (c === CR && j + 1 >= end && !final) {
          i = j;
          break;
        }
        fields[nf++] = fieldStart;
        fields[nf++] = j;
        fields[nf++] = nonAscii ? PLAIN_U : PLAIN;
        if (c === D) {
          i = j + 1;
          state = FIELD_START;
          continue;
        }
        checkSize(j);
        emit(j, onRecord);
        i = c === CR && b[j + 1] === LF ? j + 2 : j + 1;
        line++;
        recStart = i;
        recLine = line;
        state = FIELD_START;
        continue;
      }
      // QUOTED: jump to the next quote natively, then count the line breaks jumped over.
      let j = view.indexOf(QUOTE, i);
      if (j < 0) {
        // Resume on a trailing CR: whether it pairs with an LF is not known yet.
        j = !final && end > i && b[end - 1] === CR ? end - 1 : end;
        countBreaks(i, j);
        i = j;
        if (final) fail(`Unclosed quote: the quoted field starting at line ${quoteLine} never ends`, quoteLine);
        break;
      }
      countBreaks(i, j);
      if (j + 1 >= end && !final) {
        i = j;
        break;
      }
      const next = j + 1 < end ? b[j + 1] : -1;
      if (next === QUOTE) {
        escaped = true;
        i = j + 2;
        continue;
      }
      if (next === CR && j + 2 >= end && !final) {
        i = j;
        break;
      }
      if (next === D) {
        fields[nf++] = fieldStart;
        fields[nf++] = j;
        fields[nf++] = escaped ? ESCAPED : QUOTED_PLAIN;
        i = j + 2;
        state = FIELD_START;
        continue;
      }
      if (next === LF || next === CR || next === -1) {
        fields[nf++] = fieldStart;
        fields[nf++] = j;
        fields[nf++] = escaped ? ESCAPED : QUOTED_PLAIN;
        checkSize(j + 1);
        emit(j + 1, onRecord);
        i = next === -1 ? j + 1 : next === CR && b[j + 2] === LF ? j + 3 : j + 2;
        if (next !== -1) line++;
        recStart = i;
        recLine = line;
        state = FIELD_START;
        continue;
      }
      fail(
        `Unexpected character ${JSON.stringify(String.fromCharCode(next))} after closing quote; expected delimiter or end of line`,
        line,
      );
    }
    pos = i;
    checkSize(len);
  }

  function stripBom(final: boolean): boolean {
    if (!bomPending) return true;
    if (len < 3 && !final) return false;
    bomPending = false;
    if (len >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
      pos = 3;
      recStart = 3;
    }
    return true;
  }

  return {
    get line() {
      return line;
    },
    reset(at = {}) {
      start(at);
    },
    push(chunk, onRecord) {
      if (ended) throw new ArkBatchError('E_USAGE', 'push() after end()');
      if (chunk.length === 0) return;
      append(chunk);
      if (stripBom(false)) scan(onRecord, false);
    },
    end(onRecord) {
      if (ended) return;
      ended = true;
      stripBom(true);
      scan(onRecord, true);
    },
  };
}
