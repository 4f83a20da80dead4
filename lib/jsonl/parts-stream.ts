/**
 * The Writable shell shared by `linesToParts` and `linesToFile`: one line (or one LineBatch) per write, the write
 * callback held until the file accepted the line, finish on end, abort on destroy.
 */
import { Writable } from 'node:stream';
import { ArkBatchError } from '../errors.ts';
import { isLineBatch, type LineBatch } from './line-batch.ts';
import type { PartsManifest, PartsWriter } from './parts.ts';

/** A Writable of lines whose `result` settles with the run's outcome (also emitted as `'result'`). */
export type LinesWritable<R> = Writable & { readonly result: Promise<R> };

export function writableFromPartsWriter<R>(
  writer: PartsWriter,
  highWaterMark: number,
  outcome: (manifest: PartsManifest) => R,
): LinesWritable<R> {
  let settle!: (value: R) => void;
  let fail!: (err: unknown) => void;
  const result = new Promise<R>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  // The same error reaches the stream's 'error' event; a caller that only uses pipeline()
  // must not get an unhandled rejection from a promise it never looked at.
  result.catch(() => undefined);
  const stream = new Writable({
    objectMode: true,
    highWaterMark,
    write(line: string | Uint8Array | LineBatch, _encoding, callback) {
      let pending: Promise<void> | null;
      try {
        pending = isLineBatch(line) ? writer.writeBatch(line) : writer.write(line);
      } catch (err) {
        callback(err as Error);
        return;
      }
      if (pending === null) callback();
      else pending.then(() => callback(), callback);
    },
    final(callback) {
      writer.finish().then((manifest) => {
        const value = outcome(manifest);
        settle(value);
        stream.emit('result', value);
        callback();
      }, callback);
    },
    destroy(err, callback) {
      const reason = err ?? new ArkBatchError('E_ABORTED', 'output was destroyed before it ended');
      writer.abort().then(
        () => {
          fail(reason);
          callback(err);
        },
        (abortErr: unknown) => {
          fail(err ?? abortErr);
          callback(err ?? (abortErr as Error));
        },
      );
    },
  });
  return Object.assign(stream, { result });
}
