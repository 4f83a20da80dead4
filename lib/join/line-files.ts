/**
 * Line I/O for the join: an async line iterator over any byte stream (results files, stdin),
 * and synchronous buffered append/read of private temp files (spill partitions). Spill files
 * are written and read in large blocks by one process, so blocking calls cost nothing
 * and save an await per line.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
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
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CR) end--;
    const start = line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    if (end <= start) return null;
    try {
      return { line, text: decoder.decode(bytes.subarray(start, end)) };
    } catch (err) {
      throw new ArkBatchError('E_ENCODING', 'line is not valid UTF-8', { file: options.file, line, cause: err });
    }
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

/** Spill-file failures (disk full, permissions) as coded errors naming the file. */
function io<T>(what: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ArkBatchError('E_IO', `cannot ${what} join spill file: ${(err as Error).message}`, { file: path, cause: err });
  }
}

/** Buffered appends of text lines to a new file; `flush` is implied by `close`. */
export class LineAppender {
  readonly #fd: number;
  readonly #path: string;
  readonly #limit: number;
  #parts: string[] = [];
  #size = 0;
  #closed = false;
  bytes = 0;
  lines = 0;
  constructor(path: string, bufferBytes: number) {
    this.#path = path;
    this.#fd = io('create', path, () => openSync(path, 'wx'));
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
    io('write', this.#path, () => {
      let off = 0;
      while (off < buf.length) off += writeSync(this.#fd, buf, off, buf.length - off);
    });
    this.bytes += buf.length;
  }
  /** Flushes and closes; later calls do nothing (cleanup paths may call it again). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.flush();
    } finally {
      closeSync(this.#fd);
    }
  }
}

/** Reads back a file written by LineAppender, one line at a time, through one growing buffer. */
export class LineFileReader {
  readonly #fd: number;
  readonly #path: string;
  readonly #maxLineBytes: number;
  #buf: Buffer;
  #start = 0;
  #end = 0;
  #eof = false;
  #closed = false;
  constructor(path: string, bufferBytes: number, maxLineBytes: number) {
    this.#path = path;
    this.#fd = io('open', path, () => openSync(path, 'r'));
    this.#buf = Buffer.allocUnsafe(bufferBytes);
    this.#maxLineBytes = maxLineBytes;
  }
  /** The next line, or null at the end of the file. */
  next(): string | null {
    for (;;) {
      const nl = this.#buf.indexOf(LF, this.#start);
      if (nl !== -1 && nl < this.#end) {
        const text = this.#buf.toString('utf8', this.#start, nl);
        this.#start = nl + 1;
        return text;
      }
      if (this.#eof) return null;
      this.#fill();
    }
  }
  #fill(): void {
    const kept = this.#end - this.#start;
    if (this.#start > 0) {
      this.#buf.copy(this.#buf, 0, this.#start, this.#end);
      this.#start = 0;
      this.#end = kept;
    }
    if (this.#end === this.#buf.length) {
      if (this.#buf.length >= this.#maxLineBytes) throw new ArkBatchError('E_BUFFER_LIMIT', `spilled line is longer than ${this.#maxLineBytes} bytes`);
      const grown = Buffer.allocUnsafe(Math.min(this.#buf.length * 2, this.#maxLineBytes + 1));
      this.#buf.copy(grown, 0, 0, this.#end);
      this.#buf = grown;
    }
    const n = io('read', this.#path, () => readSync(this.#fd, this.#buf, this.#end, this.#buf.length - this.#end, null));
    if (n === 0) this.#eof = true;
    this.#end += n;
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
  }
}
