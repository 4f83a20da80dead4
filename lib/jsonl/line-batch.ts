/**
 * Many encoded lines in one Buffer, each followed by its newline: what the fused CSV path hands
 * to its sink instead of one stream chunk per line (each objectMode hop costs about a µs a
 * line). Sinks that know batches (linesToFile, linesToParts, encodeJsonl) write them whole, or
 * cut them at line ends when a part fills.
 */
import { ArkBatchError } from '../errors.ts';

export interface LineBatch {
  /** The lines, each with its trailing `\n`. */
  readonly data: Buffer;
  /** `ends[i]` is the offset just past line i's newline; `ends.length` lines. */
  readonly ends: readonly number[];
  /**
   * Sinks call this once they no longer need `data` (they copied it), so the batcher can reuse
   * the memory. Optional for consumers: a batch never released is garbage-collected as usual.
   */
  release(): void;
}

class Batch implements LineBatch {
  #onRelease: ((data: Buffer) => void) | undefined;
  constructor(
    readonly data: Buffer,
    readonly ends: readonly number[],
    onRelease: ((data: Buffer) => void) | undefined,
  ) {
    this.#onRelease = onRelease;
  }
  release(): void {
    const f = this.#onRelease;
    this.#onRelease = undefined;
    f?.(this.data);
  }
}

/** Released buffers kept for reuse; the producer rarely runs further ahead of its sink. */
const MAX_POOLED = 8;

/**
 * A batch over lines encoded elsewhere (a worker's, lib/requests/csv-lines-parallel.ts);
 * `onRelease` gets its memory back once a sink is done with it.
 */
export function lineBatchOf(data: Buffer, ends: readonly number[], onRelease?: (data: Buffer) => void): LineBatch {
  return new Batch(data, ends, onRelease);
}

export function isLineBatch(value: unknown): value is LineBatch {
  return value instanceof Batch;
}

export interface LineBatcherOptions {
  /** Bytes gathered before a batch is handed on; a longer line gets a batch of its own. @default 1048576 (1 MiB) */
  readonly batchBytes?: number;
  /** Lines given as strings are latin1 binary strings (each char one byte of UTF-8) rather than text. @default false */
  readonly binary?: boolean;
  /** Receives each batch once it is full (and the last one on `flush`). */
  readonly onBatch: (batch: LineBatch) => void;
  /**
   * Batch-sized buffers in shared memory, which a file writer thread takes without a copy
   * (lib/jsonl/parts.ts). Such batches cannot be transferred to a worker. @default false
   */
  readonly shared?: boolean;
}

/**
 * Where lines are written in place: a writer puts bytes at `buf[pos…]` after `ensure`-ing room,
 * then `commit`s the line (or `rollback`s it).
 */
export interface LineWriter {
  /** The buffer the line in progress is written to; replaced by `ensure`. */
  readonly buf: Buffer;
  /** Next byte of the line in progress; the writer advances it. */
  pos: number;
  /** Where the line in progress starts in `buf`. */
  readonly start: number;
  /** Makes room for `extra` more bytes of the line in progress (moving it to a new buffer when the batch is full). */
  ensure(extra: number): void;
  /** Ends the line in progress with its newline. */
  commit(): void;
  /** Drops the line in progress. */
  rollback(): void;
}

/** Gathers lines into batches. Lines come whole (`add`, `addLines`) or are written in place (LineWriter). */
export interface LineBatcher extends LineWriter {
  /** Appends a whole line (no newline in it). */
  add(line: string): void;
  /**
   * Appends `count` whole lines, newlines included, from `src`: the first starts at 0, line i
   * ends (exclusive) at `ends[i]`. Copied a batch's worth at a time. No line may be in progress.
   */
  addLines(src: Uint8Array, ends: readonly number[], count: number): void;
  /** Hands on the lines gathered so far, if any. */
  flush(): void;
  /** Takes a batch-sized buffer released elsewhere (memory that came back from another thread). */
  adopt(buffer: Buffer): void;
}

class Batcher implements LineBatcher {
  buf: Buffer;
  pos = 0;
  start = 0;
  #ends: number[] = [];
  readonly #batchBytes: number;
  readonly #binary: boolean;
  readonly #onBatch: (batch: LineBatch) => void;
  readonly #pool: Buffer[] = [];
  readonly #shared: boolean;

  constructor(batchBytes: number, binary: boolean, onBatch: (batch: LineBatch) => void, shared: boolean) {
    this.#batchBytes = batchBytes;
    this.#binary = binary;
    this.#onBatch = onBatch;
    this.#shared = shared;
    this.buf = this.#fresh();
  }

  ensure(extra: number): void {
    // One byte more for the newline.
    if (this.pos + extra < this.buf.length) return;
    const partial = this.pos - this.start;
    const old = this.buf;
    const oldStart = this.start;
    if (this.#ends.length > 0) this.#onBatch(this.#batch(old, oldStart));
    this.#ends = [];
    // The consumer keeps the bytes until it releases them, so the next lines need other memory.
    const need = partial + extra + 1;
    this.buf = need <= this.#batchBytes ? this.#fresh() : Buffer.allocUnsafeSlow(2 * need);
    old.copy(this.buf, 0, oldStart, oldStart + partial);
    this.start = 0;
    this.pos = partial;
  }

  commit(): void {
    this.buf[this.pos++] = 0x0a;
    this.#ends.push(this.pos);
    this.start = this.pos;
  }

  rollback(): void {
    this.pos = this.start;
  }

  add(line: string): void {
    const size = this.#binary ? line.length : Buffer.byteLength(line, 'utf8');
    this.ensure(size);
    this.pos += this.buf.write(line, this.pos, this.#binary ? 'latin1' : 'utf8');
    this.commit();
  }

  addLines(src: Uint8Array, ends: readonly number[], count: number): void {
    let from = 0;
    for (let i = 0; i < count; ) {
      // The lines that fit before the batch is full.
      const room = this.buf.length - this.pos;
      let j = i;
      while (j < count && ends[j]! - from <= room) j++;
      if (j === i) {
        // Not even the next one: a fresh batch (of its own size when the line is larger).
        this.ensure(ends[i]! - from - 1);
        continue;
      }
      const to = ends[j - 1]!;
      this.buf.set(src.subarray(from, to), this.pos);
      const shift = this.pos - from;
      for (let k = i; k < j; k++) this.#ends.push(ends[k]! + shift);
      this.pos += to - from;
      this.start = this.pos;
      from = to;
      i = j;
    }
  }

  #batch(buf: Buffer, end: number): Batch {
    // Only buffers of the standard size (each its own ArrayBuffer) go back to the pool.
    return new Batch(buf.subarray(0, end), this.#ends, buf.length === this.#batchBytes ? this.#recycle : undefined);
  }

  readonly #recycle = (data: Buffer): void => {
    if (this.#pool.length < MAX_POOLED) this.#pool.push(Buffer.from(data.buffer, data.byteOffset, this.#batchBytes));
  };


  adopt(buffer: Buffer): void {
    if (buffer.length === this.#batchBytes && this.#pool.length < MAX_POOLED) this.#pool.push(buffer);
  }

  #fresh(): Buffer {
    return this.#pool.pop() ?? (this.#shared ? Buffer.from(new SharedArrayBuffer(this.#batchBytes)) : Buffer.allocUnsafeSlow(this.#batchBytes));
  }

  flush(): void {
    if (this.#ends.length === 0) return;
    this.#onBatch(this.#batch(this.buf, this.start));
    this.#ends = [];
    this.buf = this.#fresh();
    this.start = 0;
    this.pos = 0;
  }
}

export function createLineBatcher(options: LineBatcherOptions): LineBatcher {
  const batchBytes = options.batchBytes ?? 1 << 20;
  if (!Number.isSafeInteger(batchBytes) || batchBytes < 1) {
    throw new ArkBatchError('E_USAGE', `Expected batchBytes to be a positive integer, got ${String(batchBytes)} (${typeof batchBytes})`);
  }
  return new Batcher(batchBytes, options.binary ?? false, options.onBatch, options.shared ?? false);
}
