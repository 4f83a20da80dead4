/**
 * `matchPartition`, the second heavy step of a spilled join (after lib/join/spill-tasks.ts
 * `spillRange`), as a self-contained task on files in the spill directory: load one partition's
 * results (chunk by chunk, so in input order: the first success wins as if read serially),
 * answer the partition's ids file in source order (`matched-<p>`, or `tails-<p>` for a join
 * into CSV) and write the results no id took (`orphans-<p>`).
 */
import { closeSync, existsSync, openSync, readSync, unlinkSync } from 'node:fs';
import { ArkBatchError } from '../errors.ts';
import { textOf } from '../sources/row.ts';
import { bindCsvTail, type CsvTailFormat } from './joined-row.ts';
import { io, LineAppender, LineFileReader, lineText } from './line-files.ts';
import { decodeRecord, encodeRecord, parseResultLine, peekRecord, replacesKept } from './result-line.ts';
import { idOfLine, idsFile, matchedFile, ORIGIN_WORDS, orphansFile, resultsFile, tailsFile } from './spill-tasks.ts';
import { TAIL_ERROR, TAIL_MISSING, TAIL_OK, tailBytesLimit, TailAppender, TailReader } from './tail-files.ts';

const APPEND_BUFFER = 64 * 1024;
const READ_BUFFER = 64 * 1024;

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
