/**
 * Stream plumbing shared by the transforms: joining stages into one Duplex, and translating the
 * plain `Error`s that third-party stages (split2, stream-json) raise into coded `ArkBatchError`s
 * before they leave the composed stream, so callers only ever match on `code`.
 */
import * as nodeStream from 'node:stream';
import { Transform } from 'node:stream';
import type { Duplex, Stream, TransformCallback, TransformOptions } from 'node:stream';

/**
 * `stream.compose` (Node >= 16.9): backpressure and errors flow across all stages. @types/node 20
 * does not declare it yet, hence the cast.
 */
export const compose = (nodeStream as unknown as { compose: (...streams: Stream[]) => Duplex }).compose;

interface Destroyable {
  _destroy(error: Error | null, callback: (error?: Error | null) => void): void;
}

/** Rewrites the error a stream is destroyed with; everything else about `_destroy` is kept. */
export function mapDestroyError<S extends Destroyable>(stream: S, map: (err: Error) => Error): S {
  const original = stream._destroy;
  stream._destroy = function (this: S, error, callback) {
    original.call(this, error, (err) => callback(err ? map(err) : err));
  };
  return stream;
}

/**
 * A Transform from a pure per-chunk function: the result is pushed unless `undefined`; a throw
 * becomes the stream's error (never an exception out of `write()`). `end` may emit a last value.
 */
export function mapChunks<In, Out>(
  options: TransformOptions,
  step: (chunk: In) => Out | undefined,
  end?: () => Out | undefined,
): Transform {
  const run = (fn: () => Out | undefined, callback: TransformCallback) => {
    let out: Out | undefined;
    try {
      out = fn();
    } catch (err) {
      callback(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    callback(null, out);
  };
  return new Transform({
    ...options,
    transform(chunk: In, _encoding, callback) {
      run(() => step(chunk), callback);
    },
    flush(callback) {
      run(() => end?.(), callback);
    },
  });
}
