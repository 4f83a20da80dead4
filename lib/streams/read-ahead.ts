/**
 * A file's bytes with the next read already in flight while the consumer works on a chunk.
 *
 * fs.ReadStream asks for the next chunk only after the current one's 'data' handlers return,
 * and a pipeline's transform does its work inside them: so every chunk waits for a read on the
 * thread pool with the main thread idle (12–15 % of a CPU-bound `prep` at 128 KiB chunks). Here
 * the next reads are started before a chunk is pushed: three at once from a regular file, at
 * their positions, because on a busy 2-CPU machine one read often was not done by the time its
 * chunk was wanted (0.15–0.5 s of idle main thread per 300 MB); one at a time from a FIFO.
 */
import { close, fstat, open, read } from 'node:fs';
import { Readable } from 'node:stream';

export interface ReadAheadOptions {
  /** Bytes per read (and per chunk). @default 131072 (128 KiB) */
  readonly chunkBytes?: number;
  /** Reads in flight at once from a regular file (a FIFO gets one). @default 3 */
  readonly depth?: number;
}

interface Chunk {
  /** Where it was read from, or null for the file's current position. */
  readonly at: number | null;
  readonly bytes: Promise<Buffer | null>;
}

/** The chunk at `at` (null: from the current position; a FIFO has no other) read into `buf`, null at the file's end. */
function readChunk(fd: number, buf: Buffer, at: number | null): Promise<Buffer | null> {
  const size = buf.length;
  const p = new Promise<Buffer | null>((resolve, reject) => {
    read(fd, buf, 0, size, at, (err, n) => {
      if (err) reject(err);
      else resolve(n === 0 ? null : n === size ? buf : buf.subarray(0, n));
    });
  });
  // Read ahead of its consumer: a failure is seen when it is awaited (or never, after a destroy).
  p.catch(() => {});
  return p;
}

class ReadAheadStream extends Readable implements ReadAhead {
  readonly #path: string;
  readonly #size: number;
  readonly #depth: number;
  #fd = -1;
  /** Where the next read starts in a regular file; null for a FIFO (reads from its current position). */
  #position: number | null = null;
  /** Reads in flight (or done and not yet pushed), in file order. */
  readonly #ahead: Chunk[] = [];
  /** Chunks given back by the consumer (see ReadAhead.recycle). */
  readonly #free: Buffer[] = [];
  /** The memory of every chunk this stream allocated (each chunk is a whole ArrayBuffer). */
  readonly #mine = new WeakSet<ArrayBufferLike>();
  #pumping = false;
  /** _read was called and not yet answered with a push; it may come while #pump is pushing. */
  #wanted = false;

  constructor(path: string, size: number, depth: number) {
    super({ highWaterMark: size });
    this.#path = path;
    this.#size = size;
    this.#depth = depth;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.#path, 'r', (err, fd) => {
      if (err) return callback(err);
      this.#fd = fd;
      fstat(fd, (statError, stats) => {
        // Only a regular file can be read at positions, so only there are reads overlapped.
        if (!statError && stats.isFile()) this.#position = 0;
        callback(statError);
      });
    });
  }

  #allocate(): Buffer {
    const buf = Buffer.allocUnsafeSlow(this.#size);
    this.#mine.add(buf.buffer);
    return buf;
  }

  recycle(chunk: Uint8Array): void {
    const whole = chunk.buffer;
    // Only the stream's own chunks, once each, and no more than it can have out.
    if (!this.#mine.has(whole) || this.#free.some((b) => b.buffer === whole) || this.#free.length >= this.#depth + 2) return;
    this.#free.push(Buffer.from(whole));
  }

  override _read(): void {
    this.#wanted = true;
    if (!this.#pumping) void this.#pump();
  }

  /** Starts reads until `depth` are ahead (one at a time from a FIFO, so that they come in order). */
  #fill(): void {
    const depth = this.#position === null ? 1 : this.#depth;
    while (this.#ahead.length < depth) {
      const at = this.#position;
      if (at !== null) this.#position = at + this.#size;
      this.#ahead.push({ at, bytes: readChunk(this.#fd, this.#free.pop() ?? this.#allocate(), at) });
    }
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#wanted) {
        this.#wanted = false;
        this.#fill();
        // Left in #ahead while awaited, so that a destroy meanwhile waits for it before closing the fd.
        const { at, bytes } = this.#ahead[0]!;
        const chunk = await bytes;
        if (this.destroyed) return;
        this.#ahead.shift();
        if (chunk === null) {
          this.push(null);
          return;
        }
        if (at !== null && chunk.length < this.#size) {
          // A short read (the end, or a file that grows while read): the reads already started
          // assumed a full one, so they are dropped and reading goes on right after it.
          await Promise.allSettled(this.#ahead.map((c) => c.bytes));
          if (this.destroyed) return;
          this.#ahead.length = 0;
          this.#position = at + chunk.length;
        }
        this.#fill();
        if (this.push(chunk)) this.#wanted = true;
      }
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      this.#pumping = false;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fd = this.#fd;
    this.#fd = -1;
    // The fd is closed only after every read on it has settled.
    const settled = Promise.allSettled(this.#ahead.map((c) => c.bytes));
    this.#ahead.length = 0;
    void settled.then(() => {
      if (fd < 0) return callback(error);
      close(fd, (closeError) => callback(error ?? closeError));
    });
  }
}

export interface ReadAhead extends Readable {
  /**
   * Gives a chunk back once its consumer is done with it (copied it, say), so that a later read
   * fills the same memory: a fresh buffer per read is garbage that is freed late, which with
   * large chunks costs more peak RSS than the chunks themselves. Nothing may use it after.
   */
  recycle(chunk: Uint8Array): void;
}

/** The bytes of the file at `path`, read ahead. */
export function createReadAhead(path: string, options: ReadAheadOptions = {}): ReadAhead {
  const size = options.chunkBytes ?? 1 << 17;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`Expected chunkBytes to be a positive integer, got ${size}`);
  const depth = options.depth ?? 3;
  if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`Expected depth to be a positive integer, got ${depth}`);
  return new ReadAheadStream(path, size, depth);
}
