import { Transform } from 'node:stream';

/** A byte-level core that turns pushed chunks into items (records, rows, line batches). */
export interface ChunkCore<T> {
  push(chunk: Buffer, emit: (item: T) => void): void;
  /** Flushes what the last chunk left open; throws on a truncated input. */
  end(emit: (item: T) => void): void;
}

/**
 * Bytes in, objects out, over a synchronous core. A core's throw becomes the stream's error.
 * push() results are not checked per item: Transform holds the next write until the readable
 * side drains, so the overshoot is bounded by the items one input chunk completes.
 */
export function transformFromCore<T>(core: ChunkCore<T>, readableHighWaterMark: number): Transform {
  const stream = new Transform({
    writableObjectMode: false,
    readableObjectMode: true,
    readableHighWaterMark,
    transform(chunk: Buffer, _encoding, callback) {
      try {
        core.push(chunk, emit);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback();
    },
    flush(callback) {
      try {
        core.end(emit);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback();
    },
  });
  const emit = (item: T) => {
    stream.push(item);
  };
  return stream;
}
