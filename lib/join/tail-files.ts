/**
 * The matched results of a spilled CSV join, ready to write: per source id (in source order
 * within its partition) the id and the CSV text of its result columns (the row's "tail").
 * Encoding the tails while matching takes the decoding of records and the CSV escaping of
 * results off the pass that writes the output, which is serial.
 *
 * Records are length-prefixed, since a tail may hold line breaks (quoted cells):
 * `u8 status` (0 missing, 1 ok, 2 error), then, unless missing, `u32 id bytes`, `u32 tail bytes`
 * (little endian), a fixed number of u32 "meta" words (0 in tails files; where the result line
 * came from in spilled results, lib/join/spill-tasks.ts), and the id and tail as UTF-8. The reader gives id and tail back as latin1
 * "binary strings" (one char per byte): what the CSV source's binary cells are compared with and
 * written next to, with no UTF-8 decoding.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { ArkBatchError } from '../errors.ts';
import { AppendFile, io } from './line-files.ts';

export const TAIL_MISSING = 0;
export const TAIL_OK = 1;
export const TAIL_ERROR = 2;
export type TailStatus = typeof TAIL_MISSING | typeof TAIL_OK | typeof TAIL_ERROR;

const HEAD_BYTES = 9;

/**
 * The longest tail record of results lines up to `maxLineBytes`: a tail holds values of one
 * result line, CSV-quoted (`""` where the line had `\"`, one byte for an escaped control
 * character), so never twice the line's bytes.
 */
export function tailBytesLimit(maxLineBytes = 128 * 1024 * 1024): number {
  return 2 * maxLineBytes + 1024;
}

/** Buffered appends of tail records to a new file. */
export class TailAppender {
  readonly #file: AppendFile;
  readonly #metaWords: number;
  #buf: Buffer;
  #used = 0;
  /** Bytes written so far (flushed or not): the offset of the next record. */
  bytes = 0;
  constructor(path: string, bufferBytes: number, metaWords = 0) {
    this.#file = new AppendFile(path);
    this.#buf = Buffer.allocUnsafe(bufferBytes);
    this.#metaWords = metaWords;
  }
  /**
   * Appends a record; `id` and `tail` are text written as UTF-8 (or latin1 binary strings, their
   * bytes as they are); they and `meta` are only read when matched.
   */
  push(status: TailStatus, id = '', tail = '', meta?: readonly number[], encoding: 'utf8' | 'latin1' = 'utf8'): void {
    if (status === TAIL_MISSING) {
      if (this.#used + 1 > this.#buf.length) this.flush();
      this.#buf[this.#used++] = TAIL_MISSING;
      this.bytes++;
      return;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const head = HEAD_BYTES + 4 * this.#metaWords;
    const worst = head + 3 * (id.length + tail.length);
    if (this.#used + worst > this.#buf.length) {
      this.flush();
      if (worst > this.#buf.length) this.#buf = Buffer.allocUnsafe(worst);
    }
    const b = this.#buf;
    const at = this.#used;
    b[at] = status;
    const idBytes = b.write(id, at + head, encoding);
    const tailBytes = b.write(tail, at + head + idBytes, encoding);
    b.writeUInt32LE(idBytes, at + 1);
    b.writeUInt32LE(tailBytes, at + 5);
    for (let w = 0; w < this.#metaWords; w++) b.writeUInt32LE(meta![w]!, at + HEAD_BYTES + 4 * w);
    this.#used = at + head + idBytes + tailBytes;
    this.bytes += head + idBytes + tailBytes;
  }
  flush(): void {
    if (this.#used === 0) return;
    const n = this.#used;
    this.#used = 0;
    this.#file.write(this.#buf, n);
  }
  /** Flushes and closes; later calls do nothing (cleanup paths may call it again). */
  close(): void {
    this.#file.close(() => this.flush());
  }
}

/** Reads tail records back from a byte offset (a record start) to the end of the file. */
export class TailReader {
  readonly #fd: number;
  readonly #path: string;
  readonly #maxRecordBytes: number;
  #buf: Buffer;
  #start = 0;
  #end = 0;
  #pos: number;
  readonly #size: number;
  readonly #metaWords: number;
  #closed = false;
  /** The current record's outcome, id and tail (latin1 binary strings; empty when missing), and meta words. */
  status: TailStatus = TAIL_MISSING;
  id = '';
  tail = '';
  readonly meta: number[];
  constructor(path: string, options: { readonly bufferBytes: number; readonly maxRecordBytes: number; readonly start?: number; readonly metaWords?: number }) {
    this.#path = path;
    this.#fd = io('open', path, () => openSync(path, 'r'));
    this.#size = io('stat', path, () => statSync(path).size);
    this.#buf = Buffer.allocUnsafe(options.bufferBytes);
    this.#maxRecordBytes = options.maxRecordBytes;
    this.#pos = options.start ?? 0;
    this.#metaWords = options.metaWords ?? 0;
    this.meta = new Array<number>(this.#metaWords).fill(0);
  }
  /** Moves to the next record; false at the end of the file. */
  next(): boolean {
    if (!this.#have(1)) return false;
    const status = this.#buf[this.#start]! as TailStatus;
    if (status === TAIL_MISSING) {
      this.#start++;
      this.status = TAIL_MISSING;
      this.id = '';
      this.tail = '';
      return true;
    }
    const head = HEAD_BYTES + 4 * this.#metaWords;
    if (!this.#have(head)) throw this.#truncated();
    const idBytes = this.#buf.readUInt32LE(this.#start + 1);
    const tailBytes = this.#buf.readUInt32LE(this.#start + 5);
    const total = head + idBytes + tailBytes;
    if (total > this.#maxRecordBytes) {
      throw new ArkBatchError('E_BUFFER_LIMIT', `a joined result is longer than ${this.#maxRecordBytes} bytes (raise --max-line-bytes)`, { file: this.#path });
    }
    if (!this.#have(total)) throw this.#truncated();
    for (let w = 0; w < this.#metaWords; w++) this.meta[w] = this.#buf.readUInt32LE(this.#start + HEAD_BYTES + 4 * w);
    const at = this.#start + head;
    this.status = status;
    this.id = this.#buf.toString('latin1', at, at + idBytes);
    this.tail = this.#buf.toString('latin1', at + idBytes, at + idBytes + tailBytes);
    this.#start += total;
    return true;
  }
  /** Whether `n` bytes from the current record on are in the buffer (reading more if needed). */
  #have(n: number): boolean {
    while (this.#end - this.#start < n) {
      if (this.#pos >= this.#size) return false;
      const kept = this.#end - this.#start;
      if (this.#start > 0) {
        this.#buf.copy(this.#buf, 0, this.#start, this.#end);
        this.#start = 0;
        this.#end = kept;
      }
      if (n > this.#buf.length) {
        const grown = Buffer.allocUnsafe(Math.max(n, this.#buf.length * 2));
        this.#buf.copy(grown, 0, 0, this.#end);
        this.#buf = grown;
      }
      const want = Math.min(this.#buf.length - this.#end, this.#size - this.#pos);
      const got = io('read', this.#path, () => readSync(this.#fd, this.#buf, this.#end, want, this.#pos));
      if (got === 0) return false;
      this.#pos += got;
      this.#end += got;
    }
    return true;
  }
  #truncated(): ArkBatchError {
    return new ArkBatchError('E_INTEGRITY', 'a join spill file ends inside a record', { file: this.#path });
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
  }
}
