/**
 * Line I/O for the join: an async line iterator over any byte stream (results files, stdin),
 * and synchronous buffered append/read of private temp files (spill partitions). Spill files
 * are written and read in large blocks by one process, so blocking calls cost nothing
 * and save an await per line.
 */
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { ArkBatchError } from '../errors.ts';

export interface TextLine {
  /** 1-based physical line. */
  readonly line: number;
  readonly text: string;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Lines of a UTF-8 byte stream, blank lines skipped (but counted). Invalid UTF-8 fails with
 * E_ENCODING; a line over `maxLineBytes` fails with E_BUFFER_LIMIT instead of growing forever.
 */
export async function* readTextLines(input: Readable, options: { readonly maxLineBytes: number; readonly file?: string }): AsyncGenerator<TextLine> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 0;
  const emit = (bytes: Buffer): TextLine | null => {
    line++;
    const text = lineText(bytes, line, line === 1, decoder, options.file);
    return text === null ? null : { line, text };
  };
  const tooLong = () =>
    new ArkBatchError('E_BUFFER_LIMIT', `line is longer than ${options.maxLineBytes} bytes (raise --max-line-bytes)`, { file: options.file, line: line + 1 });
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(LF); nl !== -1; nl = buf.indexOf(LF, start)) {
      let bytes = buf.subarray(start, nl);
      if (pendingBytes > 0) {
        pending.push(bytes);
        bytes = Buffer.concat(pending);
        pending = [];
        pendingBytes = 0;
      }
      if (bytes.length > options.maxLineBytes) throw tooLong();
      const l = emit(bytes);
      if (l) yield l;
      start = nl + 1;
    }
    if (start < buf.length) {
      pending.push(buf.subarray(start));
      pendingBytes += buf.length - start;
      if (pendingBytes > options.maxLineBytes) throw tooLong();
    }
  }
  if (pendingBytes > 0) {
    const l = emit(Buffer.concat(pending));
    if (l) yield l;
  }
}

/**
 * The text of one line's bytes (without its LF): a trailing CR and, on a file's first line, a
 * UTF-8 BOM are dropped; a blank line gives null. Invalid UTF-8 fails with E_ENCODING.
 */
export function lineText(bytes: Buffer, line: number, firstOfFile: boolean, decoder: { decode(bytes: Uint8Array): string }, file: string | undefined): string | null {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === CR) end--;
  const start = firstOfFile && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  if (end <= start) return null;
  try {
    return decoder.decode(bytes.subarray(start, end));
  } catch (err) {
    throw new ArkBatchError('E_ENCODING', 'line is not valid UTF-8', { file, line, cause: err });
  }
}

/**
 * The lines of bytes [start, end) of a file, read synchronously in large blocks: what a join
 * worker reads its share of a results file with. `start` and `end` sit just after a LF (or at
 * the file's ends). `line` counts every physical line, blank ones too, from 1 within the range;
 * a line over `maxLineBytes` fails like `readTextLines` (with the line number within the range).
 */
export class RangeLineReader {
  readonly #fd: number;
  readonly #path: string;
  readonly #maxLineBytes: number;
  readonly #file: string | undefined;
  #buf: Buffer;
  #start = 0;
  #end = 0;
  #pos: number;
  readonly #stop: number;
  #closed = false;
  line = 0;
  /** Byte offset in the file of the line `next` returned last. */
  offset = 0;
  constructor(path: string, range: { readonly start: number; readonly end: number }, options: { readonly bufferBytes: number; readonly maxLineBytes: number; readonly file?: string }) {
    this.#path = path;
    this.#fd = io('open', path, () => openSync(path, 'r'));
    this.#buf = Buffer.allocUnsafe(options.bufferBytes);
    this.#maxLineBytes = options.maxLineBytes;
    this.#file = options.file;
    this.#pos = range.start;
    this.#stop = range.end;
  }
  /** The next line's bytes (a view, valid until the next call; without the LF), or null at the end. */
  next(): Buffer | null {
    for (;;) {
      const nl = this.#buf.indexOf(LF, this.#start);
      if (nl !== -1 && nl < this.#end) {
        if (nl - this.#start > this.#maxLineBytes) throw this.#tooLong();
        const bytes = this.#buf.subarray(this.#start, nl);
        this.offset = this.#pos - this.#end + this.#start;
        this.#start = nl + 1;
        this.line++;
        return bytes;
      }
      if (this.#end - this.#start > this.#maxLineBytes) throw this.#tooLong();
      if (this.#pos >= this.#stop) {
        if (this.#end === this.#start) return null;
        const bytes = this.#buf.subarray(this.#start, this.#end);
        this.offset = this.#pos - this.#end + this.#start;
        this.#start = this.#end;
        this.line++;
        return bytes;
      }
      this.#fill();
    }
  }
  #tooLong(): ArkBatchError {
    return new ArkBatchError('E_BUFFER_LIMIT', `line is longer than ${this.#maxLineBytes} bytes (raise --max-line-bytes)`, { file: this.#file, line: this.line + 1 });
  }
  #fill(): void {
    const kept = this.#end - this.#start;
    if (this.#start > 0) {
      this.#buf.copy(this.#buf, 0, this.#start, this.#end);
      this.#start = 0;
      this.#end = kept;
    }
    if (this.#end === this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.#buf.length * 2, this.#maxLineBytes + 2));
      this.#buf.copy(grown, 0, 0, this.#end);
      this.#buf = grown;
    }
    const want = Math.min(this.#buf.length - this.#end, this.#stop - this.#pos);
    const n = io('read', this.#path, () => readSync(this.#fd, this.#buf, this.#end, want, this.#pos));
    if (n === 0) throw new ArkBatchError('E_INTEGRITY', 'a results file got shorter while it was read', { file: this.#file });
    this.#pos += n;
    this.#end += n;
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
  }
}

/**
 * Cuts a file into about `pieces` byte ranges that each end just after a LF (the last at the
 * file's end), so each can be read on its own. Empty ranges are dropped.
 */
export function cutAtLines(path: string, size: number, pieces: number): { start: number; end: number }[] {
  const fd = io('open', path, () => openSync(path, 'r'));
  const probe = Buffer.allocUnsafe(64 * 1024);
  const cuts = [0];
  try {
    for (let i = 1; i < pieces; i++) {
      let pos = Math.max(Math.floor((size * i) / pieces), cuts[cuts.length - 1]!);
      let cut = size;
      while (pos < size) {
        const n = io('read', path, () => readSync(fd, probe, 0, probe.length, pos));
        if (n === 0) break;
        const nl = probe.subarray(0, n).indexOf(LF);
        if (nl !== -1) {
          cut = pos + nl + 1;
          break;
        }
        pos += n;
      }
      if (cut > cuts[cuts.length - 1]! && cut < size) cuts.push(cut);
    }
  } finally {
    closeSync(fd);
  }
  cuts.push(size);
  const ranges: { start: number; end: number }[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) if (cuts[i + 1]! > cuts[i]!) ranges.push({ start: cuts[i]!, end: cuts[i + 1]! });
  return ranges;
}

/** Spill-file failures (disk full, permissions) as coded errors naming the file. */
export function io<T>(what: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ArkBatchError('E_IO', `cannot ${what} join spill file: ${(err as Error).message}`, { file: path, cause: err });
  }
}

/** A new spill file written front to back; `close` runs a last flush first, once. */
export class AppendFile {
  readonly #fd: number;
  readonly path: string;
  #closed = false;
  constructor(path: string) {
    this.path = path;
    this.#fd = io('create', path, () => openSync(path, 'wx'));
  }
  /** Appends buf[0, n). */
  write(buf: Uint8Array, n = buf.length): void {
    io('write', this.path, () => {
      let off = 0;
      while (off < n) off += writeSync(this.#fd, buf, off, n - off);
    });
  }
  /** Runs `flush`, then closes; later calls do nothing (cleanup paths may call it again). */
  close(flush: () => void): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      flush();
    } finally {
      closeSync(this.#fd);
    }
  }
}

/** Buffered appends of text lines to a new file; `flush` is implied by `close`. */
export class LineAppender {
  readonly #file: AppendFile;
  readonly #limit: number;
  #parts: string[] = [];
  #size = 0;
  bytes = 0;
  lines = 0;
  constructor(path: string, bufferBytes: number) {
    this.#file = new AppendFile(path);
    this.#limit = bufferBytes;
  }
  push(text: string): void {
    this.#parts.push(text);
    this.#size += text.length + 1;
    this.lines++;
    if (this.#size >= this.#limit) this.flush();
  }
  flush(): void {
    if (this.#parts.length === 0) return;
    const buf = Buffer.from(this.#parts.join('\n') + '\n');
    this.#parts = [];
    this.#size = 0;
    this.#file.write(buf);
    this.bytes += buf.length;
  }
  /** Flushes and closes; later calls do nothing (cleanup paths may call it again). */
  close(): void {
    this.#file.close(() => this.flush());
  }
}

/** Reads back a whole file written by LineAppender, one line of text at a time. */
export class LineFileReader {
  readonly #lines: RangeLineReader;
  constructor(path: string, bufferBytes: number, maxLineBytes: number) {
    const size = io('stat', path, () => statSync(path).size);
    this.#lines = new RangeLineReader(path, { start: 0, end: size }, { bufferBytes, maxLineBytes });
  }
  /** The next line, or null at the end of the file. */
  next(): string | null {
    return this.#lines.next()?.toString('utf8') ?? null;
  }
  close(): void {
    this.#lines.close();
  }
}
