/**
 * The two heavy steps of a spilled join, as self-contained tasks on files in the spill
 * directory, so they run the same on the main thread or in a worker (lib/join/worker-pool.ts):
 *   - `spillRange`: parse one byte range of a results file and append each record to its hash
 *     partition, in files of its own (`results-<chunk>-<p>`);
 *   - `matchPartition`: load one partition's records (chunk by chunk, so in input order: the
 *     first success wins as if read serially), answer the partition's ids file in source order
 *     (`matched-<p>`) and write the results no id took (`orphans-<p>`).
 */
import { closeSync, existsSync, openSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ArkBatchError } from '../errors.ts';
import { textOf } from '../sources/row.ts';
import { io, LineAppender, LineFileReader, lineText, RangeLineReader } from './line-files.ts';
import { bindCsvTail, type CsvTailFormat } from './joined-row.ts';
import { decodeRecord, encodeRecord, parseResultLine, peekRecord, replacesKept, type ResultRecord } from './result-line.ts';
import { TAIL_ERROR, TAIL_MISSING, TAIL_OK, tailBytesLimit, TailAppender, TailReader } from './tail-files.ts';

const APPEND_BUFFER = 64 * 1024;
const READ_BUFFER = 64 * 1024;

/** The partition of a custom_id (FNV-1a over its UTF-16 code units). */
export function hashOf(id: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % n;
}

/**
 * An id as a line of an ids file: as it is when that reads back unchanged (no line break, no
 * lone surrogate, no leading quote), else as JSON. Most ids are plain, and JSON both ways cost
 * ~0.3 s per million ids.
 */
export function idLine(id: string): string {
  return PLAIN_ID.test(id) ? id : JSON.stringify(id);
}

export function idOfLine(text: string): string {
  return text.charCodeAt(0) === 0x22 ? (JSON.parse(text) as string) : text;
}

const PLAIN_ID = /^(?!")[^\n\r\ud800-\udfff]*$/;

export const resultsFile = (dir: string, chunk: number, p: number) => join(dir, `results-${chunk}-${p}`);
export const idsFile = (dir: string, p: number) => join(dir, `ids-${p}`);
export const matchedFile = (dir: string, p: number) => join(dir, `matched-${p}`);
export const tailsFile = (dir: string, p: number) => join(dir, `tails-${p}`);
export const orphansFile = (dir: string, p: number) => join(dir, `orphans-${p}`);

export interface SpillRangeTask {
  readonly kind: 'range';
  readonly dir: string;
  readonly partitions: number;
  /** This range's number: its records go to `results-<chunk>-<p>`. */
  readonly chunk: number;
  readonly path: string;
  /** Name in error messages. */
  readonly fileName: string;
  /** Index of the results file among the join's inputs. */
  readonly file: number;
  readonly start: number;
  readonly end: number;
  readonly maxLineBytes: number;
  readonly keepRaw: boolean;
  /**
   * Spill each result as its CSV tail with where its line is (`TailAppender` records with
   * `ORIGIN_WORDS` meta words) instead of an encoded record: a join into CSV then matches
   * without decoding records, and reads back only the lines no row took (orphans).
   */
  readonly tails?: CsvTailFormat;
}

/** Meta words of a spilled tail: line within the range, line offset (low, high 32 bits), line bytes. */
const ORIGIN_WORDS = 4;

export interface SpillRangeResult {
  /** Physical lines in the range (blank ones too). */
  readonly lines: number;
  /** Records spilled. */
  readonly records: number;
}

/**
 * Parses the lines of one range and spills them. Records carry their line number *within the
 * range*; `matchPartition` adds the range's first line once all ranges are counted. Errors carry
 * the line within the range too (the caller shifts them, see `shiftLine`).
 */
export function spillRange(task: SpillRangeTask): SpillRangeResult {
  const parts: (LineAppender | TailAppender)[] = [];
  const reader = new RangeLineReader(task.path, task, { bufferBytes: 1 << 20, maxLineBytes: task.maxLineBytes, file: task.fileName });
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const tailOf = task.tails ? bindCsvTail(task.tails) : null;
  const origin = [0, 0, 0, 0];
  let records = 0;
  try {
    for (let p = 0; p < task.partitions; p++) {
      const path = resultsFile(task.dir, task.chunk, p);
      parts.push(tailOf ? new TailAppender(path, APPEND_BUFFER, ORIGIN_WORDS) : new LineAppender(path, APPEND_BUFFER));
    }
    const opts = { file: task.file, line: 0, fileName: task.fileName, keepRaw: task.keepRaw };
    for (let bytes = reader.next(); bytes !== null; bytes = reader.next()) {
      const text = lineText(bytes, reader.line, task.start === 0 && reader.line === 1, decoder, task.fileName);
      if (text === null) continue;
      opts.line = reader.line;
      const r = parseResultLine(text, opts);
      const part = parts[hashOf(r.customId, task.partitions)]!;
      if (tailOf) {
        origin[0] = reader.line;
        origin[1] = reader.offset % 2 ** 32;
        origin[2] = Math.floor(reader.offset / 2 ** 32);
        origin[3] = bytes.length;
        (part as TailAppender).push(r.ok ? TAIL_OK : TAIL_ERROR, r.customId, tailOf(r), origin);
      } else (part as LineAppender).push(encodeRecord(r));
      records++;
    }
  } finally {
    reader.close();
    for (const p of parts) p.close();
  }
  return { lines: reader.line, records };
}

export interface MatchPartitionTask {
  readonly kind: 'match';
  readonly dir: string;
  readonly partition: number;
  /** First line (minus one) of each chunk within its file, by chunk number. */
  readonly lineBases: readonly number[];
  /** Bytes one partition's results may take in memory. */
  readonly limitBytes: number;
  readonly maxLineBytes: number;
  /**
   * Answer the ids as CSV tails (`tails-<p>`, lib/join/tail-files.ts) instead of encoded records
   * (`matched-<p>`): what a spilled join into CSV writes next to the source's cells.
   */
  readonly tails?: CsvTailFormat;
  /**
   * With `tails`: counts of this partition's ids (ascending) at which to note the byte offset
   * in `tails-<p>`, so that a source range can start reading its tails there.
   */
  readonly marks?: readonly number[];
  /**
   * Set when the ranges spilled tails (`SpillRangeTask.tails`): each chunk's results file, where
   * the lines of orphans are read back from; `tails` must then be set too.
   */
  readonly origins?: readonly ResultsOrigin[];
  /** Keep the whole line in orphans read back from `origins`. */
  readonly keepRaw?: boolean;
}

/** A chunk's results file, for reading lines back. */
export interface ResultsOrigin {
  readonly path: string;
  readonly fileName: string;
  /** Its index among the join's inputs. */
  readonly file: number;
}

export interface MatchPartitionResult {
  readonly duplicates: number;
  readonly orphans: number;
  /** With `tails`: the byte offset in `tails-<p>` at each of `marks`. */
  readonly tailOffsets: number[];
}

interface Entry {
  text: string;
  ok: boolean;
  hit: boolean;
  chunk: number;
}

/** Heap bytes of an entry: strings as UTF-16 (CJK text is two-byte in V8), the entry and its Map slot. */
export const entryBytes = (id: string, text: string) => 2 * (id.length + text.length) + 150;

export function matchPartition(task: MatchPartitionTask): MatchPartitionResult {
  if (task.origins) return matchSpilledTails(task, task.origins);
  const { dir, partition: p, limitBytes, maxLineBytes } = task;
  // Each record is peeked once, for its id and outcome; its encoded line is what moves on.
  const m = new Map<string, Entry>();
  let bytes = 0;
  let duplicates = 0;
  for (let chunk = 0; chunk < task.lineBases.length; chunk++) {
    const path = resultsFile(dir, chunk, p);
    if (!existsSync(path)) continue;
    const results = new LineFileReader(path, READ_BUFFER, maxLineBytes);
    try {
      for (let text = results.next(); text !== null; text = results.next()) {
        const r = peekRecord(text);
        const kept = m.get(r.customId);
        if (kept) {
          duplicates++;
          if (replacesKept(kept.ok)) {
            bytes += 2 * (text.length - kept.text.length);
            kept.text = text;
            kept.ok = r.ok;
            kept.chunk = chunk;
          }
        } else {
          m.set(r.customId, { text, ok: r.ok, hit: false, chunk });
          bytes += entryBytes(r.customId, text);
        }
        checkPartitionBytes(bytes, limitBytes);
      }
    } finally {
      results.close();
    }
    unlinkSync(path);
  }
  const ids = new LineFileReader(idsFile(dir, p), READ_BUFFER, maxLineBytes);
  let tailOffsets: number[] = [];
  try {
    if (task.tails) {
      const tailOf = bindCsvTail(task.tails);
      tailOffsets = answerTails(ids, new TailAppender(tailsFile(dir, p), APPEND_BUFFER), task.marks ?? [], (id, out) => {
        const e = m.get(id);
        if (!e) return out.push(TAIL_MISSING);
        e.hit = true;
        out.push(e.ok ? TAIL_OK : TAIL_ERROR, id, tailOf(decodeRecord(e.text)));
      });
    }
    else answerRecords(ids, m, new LineAppender(matchedFile(dir, p), APPEND_BUFFER));
  } finally {
    ids.close();
  }
  unlinkSync(idsFile(dir, p));
  let orphans = 0;
  const lost = new LineAppender(orphansFile(dir, p), APPEND_BUFFER);
  try {
    for (const e of m.values()) {
      if (e.hit) continue;
      orphans++;
      const base = task.lineBases[e.chunk]!;
      if (base === 0) lost.push(e.text);
      else {
        const r = decodeRecord(e.text);
        lost.push(encodeRecord({ ...r, line: r.line + base }));
      }
    }
  } finally {
    lost.close();
  }
  return { duplicates, orphans, tailOffsets };
}

/** Each id's kept record (or `0`), in the ids' order. */
function answerRecords(ids: LineFileReader, m: Map<string, Entry>, out: LineAppender): void {
  try {
    for (let text = ids.next(); text !== null; text = ids.next()) {
      const e = m.get(idOfLine(text));
      if (e) {
        e.hit = true;
        out.push(e.text);
      } else out.push('0');
    }
  } finally {
    out.close();
  }
}

/** Answers each id (in the ids' order) with one tail record; returns the tails' byte offsets at `marks`. */
function answerTails(ids: LineFileReader, out: TailAppender, marks: readonly number[], answer: (id: string, out: TailAppender) => void): number[] {
  const offsets: number[] = [];
  let answered = 0;
  try {
    for (let text = ids.next(); text !== null; text = ids.next(), answered++) {
      while (offsets.length < marks.length && marks[offsets.length] === answered) offsets.push(out.bytes);
      answer(idOfLine(text), out);
    }
    while (offsets.length < marks.length) offsets.push(out.bytes);
  } finally {
    out.close();
  }
  return offsets;
}

function checkPartitionBytes(bytes: number, limitBytes: number): void {
  if (bytes > limitBytes / 2) {
    // Twice the planned share (partitions are sized for a quarter): a very skewed hash
    // spread or a budget far too small for the results.
    throw new ArkBatchError('E_BUFFER_LIMIT', `one join partition needs more than half of the ${limitBytes}-byte memory budget; raise --memory`);
  }
}

/** A kept result spilled as a tail: its id and tail as latin1 binary strings, and where its line is. */
interface TailEntry {
  id: string;
  tail: string;
  ok: boolean;
  hit: boolean;
  chunk: number;
  line: number;
  offset: number;
  lineBytes: number;
}

const NOT_ASCII = /[^\x00-\x7f]/;

/**
 * `matchPartition` over spilled tails: the same choice of result per id (first success wins, in
 * input order), answered with the tails as they were spilled; orphans are parsed again from
 * their lines, so they come out exactly as the records path writes them.
 */
function matchSpilledTails(task: MatchPartitionTask, origins: readonly ResultsOrigin[]): MatchPartitionResult {
  const { dir, partition: p, limitBytes, maxLineBytes } = task;
  // Keyed by the id as text, as the ids files hold it.
  const m = new Map<string, TailEntry>();
  let bytes = 0;
  let duplicates = 0;
  for (let chunk = 0; chunk < task.lineBases.length; chunk++) {
    const path = resultsFile(dir, chunk, p);
    if (!existsSync(path)) continue;
    const results = new TailReader(path, { bufferBytes: READ_BUFFER, maxRecordBytes: tailBytesLimit(maxLineBytes), metaWords: ORIGIN_WORDS });
    try {
      while (results.next()) {
        const key = NOT_ASCII.test(results.id) ? textOf(results.id) : results.id;
        const [line, low, high, lineBytes] = results.meta as [number, number, number, number];
        const ok = results.status === TAIL_OK;
        const kept = m.get(key);
        if (kept) {
          duplicates++;
          if (replacesKept(kept.ok)) {
            bytes += results.tail.length - kept.tail.length;
            Object.assign(kept, { tail: results.tail, ok, chunk, line, offset: high * 2 ** 32 + low, lineBytes });
          }
        } else {
          // One-byte strings: a byte a character.
          m.set(key, { id: results.id, tail: results.tail, ok, hit: false, chunk, line, offset: high * 2 ** 32 + low, lineBytes });
          bytes += key.length + results.tail.length + 150;
        }
        checkPartitionBytes(bytes, limitBytes);
      }
    } finally {
      results.close();
    }
    unlinkSync(path);
  }
  const ids = new LineFileReader(idsFile(dir, p), READ_BUFFER, maxLineBytes);
  let tailOffsets: number[];
  try {
    tailOffsets = answerTails(ids, new TailAppender(tailsFile(dir, p), APPEND_BUFFER), task.marks ?? [], (id, out) => {
      const e = m.get(id);
      if (!e) return out.push(TAIL_MISSING);
      e.hit = true;
      out.push(e.ok ? TAIL_OK : TAIL_ERROR, e.id, e.tail, undefined, 'latin1');
    });
  } finally {
    ids.close();
  }
  unlinkSync(idsFile(dir, p));
  let orphans = 0;
  const lost = new LineAppender(orphansFile(dir, p), APPEND_BUFFER);
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  try {
    for (const e of m.values()) {
      if (e.hit) continue;
      orphans++;
      const origin = origins[e.chunk]!;
      const bytes = readBytesAt(origin.path, e.offset, e.lineBytes);
      const line = e.line + task.lineBases[e.chunk]!;
      const text = lineText(bytes, line, e.offset === 0, decoder, origin.fileName);
      if (text === null) throw new ArkBatchError('E_INTEGRITY', 'a results file changed during the join', { file: origin.fileName, line });
      lost.push(encodeRecord(parseResultLine(text, { file: origin.file, line, fileName: origin.fileName, keepRaw: task.keepRaw })));
    }
  } finally {
    lost.close();
  }
  return { duplicates, orphans, tailOffsets };
}

/** `length` bytes of a file at `offset`. */
function readBytesAt(path: string, offset: number, length: number): Buffer {
  const fd = io('open', path, () => openSync(path, 'r'));
  try {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = io('read', path, () => readSync(fd, buf, got, length - got, offset + got));
      if (n === 0) throw new ArkBatchError('E_INTEGRITY', 'a results file got shorter during the join', { file: path });
      got += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** An error raised for a line within a range, moved to its line within the file. */
export function shiftLine(err: unknown, base: number): unknown {
  if (!(err instanceof ArkBatchError) || err.line === undefined || base === 0) return err;
  const { code, detail, name: _n, message: _m, stack: _s, ...fields } = err as ArkBatchError & Record<string, unknown>;
  return new ArkBatchError(code, detail, { ...(fields as object), line: err.line + base, cause: err.cause });
}
