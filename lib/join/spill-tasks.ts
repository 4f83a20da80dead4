/**
 * The two heavy steps of a spilled join, as self-contained tasks on files in the spill
 * directory, so they run the same on the main thread or in a worker (lib/join/worker-pool.ts):
 *   - `spillRange`: parse one byte range of a results file and append each record to its hash
 *     partition, in files of its own (`results-<chunk>-<p>`);
 *   - `matchPartition`: load one partition's records (chunk by chunk, so in input order: the
 *     first success wins as if read serially), answer the partition's ids file in source order
 *     (`matched-<p>`) and write the results no id took (`orphans-<p>`).
 */
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ArkBatchError } from '../errors.ts';
import { LineAppender, LineFileReader, lineText, RangeLineReader } from './line-files.ts';
import { bindCsvTail, type CsvTailFormat } from './joined-row.ts';
import { decodeRecord, encodeRecord, parseResultLine, peekRecord, replacesKept, type ResultRecord } from './result-line.ts';
import { TAIL_ERROR, TAIL_MISSING, TAIL_OK, TailAppender } from './tail-files.ts';

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
}

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
  const parts: LineAppender[] = [];
  const reader = new RangeLineReader(task.path, task, { bufferBytes: 1 << 20, maxLineBytes: task.maxLineBytes, file: task.fileName });
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let records = 0;
  try {
    for (let p = 0; p < task.partitions; p++) parts.push(new LineAppender(resultsFile(task.dir, task.chunk, p), APPEND_BUFFER));
    const opts = { file: task.file, line: 0, fileName: task.fileName, keepRaw: task.keepRaw };
    for (let bytes = reader.next(); bytes !== null; bytes = reader.next()) {
      const text = lineText(bytes, reader.line, task.start === 0 && reader.line === 1, decoder, task.fileName);
      if (text === null) continue;
      opts.line = reader.line;
      const r = parseResultLine(text, opts);
      parts[hashOf(r.customId, task.partitions)]!.push(encodeRecord(r));
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
        if (bytes > limitBytes / 2) {
          // Twice the planned share (partitions are sized for a quarter): a very skewed hash
          // spread or a budget far too small for the results.
          throw new ArkBatchError('E_BUFFER_LIMIT', `one join partition needs more than half of the ${limitBytes}-byte memory budget; raise --memory`);
        }
      }
    } finally {
      results.close();
    }
    unlinkSync(path);
  }
  const ids = new LineFileReader(idsFile(dir, p), READ_BUFFER, maxLineBytes);
  let tailOffsets: number[] = [];
  try {
    if (task.tails) tailOffsets = answerTails(ids, m, new TailAppender(tailsFile(dir, p), APPEND_BUFFER), bindCsvTail(task.tails), task.marks ?? []);
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

/** Each id's kept record as a CSV tail (or a missing mark), in the ids' order; returns the offsets at `marks`. */
function answerTails(ids: LineFileReader, m: Map<string, Entry>, out: TailAppender, tailOf: (r: ResultRecord) => string, marks: readonly number[]): number[] {
  const offsets: number[] = [];
  let answered = 0;
  try {
    for (let text = ids.next(); text !== null; text = ids.next(), answered++) {
      while (offsets.length < marks.length && marks[offsets.length] === answered) offsets.push(out.bytes);
      const id = idOfLine(text);
      const e = m.get(id);
      if (e) {
        e.hit = true;
        out.push(e.ok ? TAIL_OK : TAIL_ERROR, id, tailOf(decodeRecord(e.text)));
      } else out.push(TAIL_MISSING);
    }
    while (offsets.length < marks.length) offsets.push(out.bytes);
  } finally {
    out.close();
  }
  return offsets;
}

/** An error raised for a line within a range, moved to its line within the file. */
export function shiftLine(err: unknown, base: number): unknown {
  if (!(err instanceof ArkBatchError) || err.line === undefined || base === 0) return err;
  const { code, detail, name: _n, message: _m, stack: _s, ...fields } = err as ArkBatchError & Record<string, unknown>;
  return new ArkBatchError(code, detail, { ...(fields as object), line: err.line + base, cause: err.cause });
}
