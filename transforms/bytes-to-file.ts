import { createWriteStream, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { ArkBatchError } from '../lib/errors.ts';

export interface BytesToFileOptions {
  /** The file to write; it appears (replacing any old one) only when the stream finished cleanly. */
  readonly path: string;
  /** Bytes buffered before write() returns false. @default 1048576 (1 MiB) */
  readonly highWaterMark?: number;
}

/**
 * A Writable of bytes that lands in `path` atomically: written to a temp name beside it and
 * renamed in final(); destroyed early, it removes the temp file, so no truncated output remains.
 */
export function bytesToFile(options: BytesToFileOptions): Writable {
  const tmp = `${options.path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  const file = createWriteStream(tmp, { flags: 'wx', highWaterMark: options.highWaterMark ?? 1 << 20 });
  const ioError = (err: Error) => new ArkBatchError('E_IO', `cannot write ${options.path}: ${err.message}`, { file: options.path, cause: err });
  let failed: Error | null = null;
  file.on('error', (err) => (failed = ioError(err)));
  return new Writable({
    highWaterMark: options.highWaterMark ?? 1 << 20,
    write(chunk: Buffer, _enc, callback) {
      if (failed) return callback(failed);
      if (file.write(chunk)) return callback();
      const onDrain = () => {
        file.off('error', onError);
        callback();
      };
      const onError = (err: Error) => {
        file.off('drain', onDrain);
        callback(ioError(err));
      };
      file.once('drain', onDrain);
      file.once('error', onError);
    },
    final(callback) {
      file.end(() => {
        if (failed) return callback(failed);
        rename(tmp, options.path).then(() => callback(), (err: Error) => callback(ioError(err)));
      });
    },
    destroy(err, callback) {
      // The temp name is ours alone (renamed away on success): removing it is the cleanup.
      const done = () => {
        rmSync(tmp, { force: true });
        callback(err);
      };
      if (file.closed) return done();
      file.once('close', done);
      file.destroy();
    },
  });
}
