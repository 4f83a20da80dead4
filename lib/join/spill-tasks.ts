/**
 * The first heavy step of a spilled join, and what the steps share: partitions (`hashOf`), spill
 * file names, ids files' lines. `spillRange` parses one byte range of a results file and appends
 * each record to its hash partition, in files of its own (`results-<chunk>-<p>`), as a
 * self-contained task on files in the spill directory, so it runs the same on the main thread or
 * in a worker (lib/join/worker-pool.ts). The second step is lib/join/match-partition.ts.
 */
import { join } from 'node:path';
import { ArkBatchError } from '../errors.ts';
import { LineAppender, lineText, RangeLineReader } from './line-files.ts';
import { bindCsvTail, type CsvTailFormat } from './joined-row.ts';
import { encodeRecord, parseResultLine } from './result-line.ts';
import { TAIL_ERROR, TAIL_OK, TailAppender } from './tail-files.ts';

const APPEND_BUFFER = 64 * 1024;

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
export const ORIGIN_WORDS = 4;

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

/** An error raised for a line within a range, moved to its line within the file. */
export function shiftLine(err: unknown, base: number): unknown {
  if (!(err instanceof ArkBatchError) || err.line === undefined || base === 0) return err;
  const { code, detail, name: _n, message: _m, stack: _s, ...fields } = err as ArkBatchError & Record<string, unknown>;
  return new ArkBatchError(code, detail, { ...(fields as object), line: err.line + base, cause: err.cause });
}
