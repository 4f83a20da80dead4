/**
 * A file's bytes with the next read already in flight while the consumer works on a chunk.
 *
 * fs.ReadStream asks for the next chunk only after the current one's 'data' handlers return,
 * and a pipeline's transform does its work inside them: so every chunk waits for a read on the
 * thread pool with the main thread idle (12–15 % of a CPU-bound `prep` at 128 KiB chunks). Here
 * a chunk's read completion starts the next read before the chunk is pushed.
 */
import { close, open, read } from 'node:fs';
import { Readable } from 'node:stream';

export interface ReadAheadOptions {
  /** Bytes per read (and per chunk). @default 131072 (128 KiB) */
  readonly chunkBytes?: number;
}

/** The next chunk from the file's current position (a FIFO has no other), null at its end. */
function readChunk(fd: number, size: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const buf = Buffer.allocUnsafe(size);
    read(fd, buf, 0, size, null, (err, n) => {
      if (err) reject(err);
      else resolve(n === 0 ? null : n === size ? buf : buf.subarray(0, n));
    });
  });
}

class ReadAheadStream extends Readable {
  readonly #path: string;
  readonly #size: number;
  #fd = -1;
  /** The read in flight (or done and not yet pushed). */
  #next: Promise<Buffer | null> | null = null;
  #pumping = false;
  /** _read was called and not yet answered with a push; it may come while #pump is pushing. */
  #wanted = false;

  constructor(path: string, size: number) {
    super({ highWaterMark: size });
    this.#path = path;
    this.#size = size;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.#path, 'r', (err, fd) => {
      if (!err) this.#fd = fd;
      callback(err);
    });
  }

  override _read(): void {
    this.#wanted = true;
    if (!this.#pumping) void this.#pump();
  }

  #start(): Promise<Buffer | null> {
    const p = readChunk(this.#fd, this.#size);
    // Awaited by #pump or by _destroy; this only keeps an early failure from being "unhandled".
    p.catch(() => {});
    return p;
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#wanted) {
        this.#wanted = false;
        const chunk = await (this.#next ?? this.#start());
        if (this.destroyed) return;
        if (chunk === null) {
          this.#next = null;
          this.push(null);
          return;
        }
        // One read at a time, so reads from the current position come in order.
        this.#next = this.#start();
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
    // The file is closed only after the read in flight is over, so no read lands on a reused fd.
    const settled = this.#next ?? Promise.resolve(null);
    this.#next = null;
    void settled.catch(() => null).then(() => {
      if (fd < 0) return callback(error);
      close(fd, (closeError) => callback(error ?? closeError));
    });
  }
}

/** The bytes of the file at `path`, read ahead one chunk. */
export function createReadAhead(path: string, options: ReadAheadOptions = {}): Readable {
  const size = options.chunkBytes ?? 1 << 17;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`Expected chunkBytes to be a positive integer, got ${size}`);
  return new ReadAheadStream(path, size);
}
