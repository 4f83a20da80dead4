import { Writable } from 'node:stream';
import { ArkBatchError } from '../lib/errors.ts';
import { createUploader, type TosUploadOptions, type TosUploadResult } from '../lib/tos/upload.ts';

export type { TosUploadOptions, TosUploadResult };

export interface TosUploadWritable extends Writable {
  /** The verified object; rejects with the error that destroyed the stream. */
  readonly result: Promise<TosUploadResult>;
}

/**
 * A Writable of bytes that becomes one TOS object. It finishes only when the object is
 * complete and its CRC-64 matches; a write waits while all part slots are busy, so a fast
 * producer is paused instead of buffered. Destroying it (or a failure) aborts the multipart
 * upload, unless `checkpoint` keeps it for a resume.
 */
export function tosUploadStream(options: TosUploadOptions): TosUploadWritable {
  const uploader = createUploader(options, (err) => stream.destroy(err as Error));
  let settle!: { resolve: (r: TosUploadResult) => void; reject: (e: unknown) => void };
  let finished = false;
  const result = new Promise<TosUploadResult>((resolve, reject) => (settle = { resolve, reject }));
  // Callers that only await the stream (pipeline) must not see an unhandled rejection.
  result.catch(() => undefined);
  const stream = new Writable({
    // One chunk queued is enough: the uploader itself holds the part buffers.
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      uploader.write(chunk).then(() => callback(), callback);
    },
    final(callback) {
      uploader.finish().then((r) => {
        finished = true;
        settle.resolve(r);
        callback();
      }, callback);
    },
    destroy(error, callback) {
      if (finished) return callback(error);
      // Destroyed before the object was complete, with or without a reason: it must not stay
      // open. `result` settles only after the cleanup, so awaiting it means nothing is left behind.
      const reason = error ?? new ArkBatchError('E_ABORTED', 'Upload stream was destroyed before it finished');
      uploader.fail(reason).then(
        () => {
          settle.reject(reason);
          callback(error);
        },
        (cleanupErr: unknown) => {
          const err = Object.assign(reason, { suppressed: cleanupErr });
          settle.reject(err);
          callback(err);
        },
      );
    },
  }) as Writable & { result: Promise<TosUploadResult> };
  stream.result = result;
  return stream;
}
