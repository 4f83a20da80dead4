/**
 * A Writable for an open file whose writes and sha256 happen on a thread of their own
 * (lib/jsonl/file-writer-worker.ts). On a large `prep` the hash and the write system calls
 * (each one a hand-off to the thread pool that costs the main thread as much as the copy) were
 * about a tenth of the main thread's time; here they run beside it.
 *
 * Chunks backed by a SharedArrayBuffer reach the thread without a copy (the caller must leave
 * them alone until their write callback, as it must for any Writable); others are copied.
 * One thread serves every sink of a {@link FileWriterThread}; it keeps the process alive only
 * while a request is pending, and `close()` ends it.
 */
import { closeSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { ArkBatchError, deserializeError } from '../errors.ts';
import { startTsWorker } from '../streams/ts-worker.ts';
import type { FileWriterRequest, FromFileWriter, ToFileWriter } from './file-writer-worker.ts';

export interface FileWriterThread {
  /** A sink writing to `fd` (which it closes when finished or destroyed); `sha256()` is its bytes' hash once it has finished. */
  sink(fd: number, highWaterMark: number): Writable & { sha256(): string };
  /** Ends the thread; sinks still open fail. */
  close(): Promise<void>;
}

/** Starts the thread. Throws when it cannot start (then write on this thread instead). */
export function startFileWriterThread(): FileWriterThread {
  const worker: Worker = startTsWorker('lib/jsonl/file-writer-worker.ts', { workerData: { kind: 'file-writer' }, resourceLimits: { maxYoungGenerationSizeMb: 2 } });
  worker.unref();
  type Reply = (err: Error | null, sha256?: string) => void;
  const pending = new Map<number, Reply>();
  let next = 0;
  let gone: Error | null = null;

  const failAll = (err: Error) => {
    gone ??= err;
    for (const reply of pending.values()) reply(gone);
    pending.clear();
  };
  worker.on('message', (m: FromFileWriter) => {
    const reply = pending.get(m.id);
    pending.delete(m.id);
    if (pending.size === 0) worker.unref();
    if (m.type === 'failed') reply?.(deserializeError(m.error));
    else reply?.(null, m.sha256);
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new ArkBatchError('E_IO', `the file writer thread stopped (exit code ${code})`)));

  function request(m: FileWriterRequest, reply: Reply): void {
    if (gone) return reply(gone);
    const id = next++;
    pending.set(id, reply);
    worker.ref();
    worker.postMessage({ ...m, id } satisfies ToFileWriter);
  }

  return {
    sink(fd, highWaterMark) {
      let digest: string | undefined;
      let open = true;
      /** Closes the fd once; the first error (the write's, else the close's) is the one reported. */
      const closeFd = (err: Error | null): Error | null => {
        if (!open) return err;
        open = false;
        try {
          closeSync(fd);
          return err;
        } catch (closeError) {
          return err ?? (closeError as Error);
        }
      };
      const stream = new Writable({
        highWaterMark,
        write(chunk: Buffer, _enc, callback) {
          request({ type: 'write', fd, chunk }, (err) => callback(err));
        },
        final(callback) {
          request({ type: 'end', fd }, (err, sha256) => {
            digest = sha256;
            callback(closeFd(err));
          });
        },
        destroy(err, callback) {
          // A write in flight still uses the fd: it is closed after the thread has answered
          // every request sent before this one.
          if (!open) return callback(err);
          request({ type: 'end', fd }, () => callback(closeFd(err)));
        },
      });
      return Object.assign(stream, {
        sha256() {
          if (digest === undefined) throw new ArkBatchError('E_USAGE', 'Expected sha256() after the sink finished');
          return digest;
        },
      });
    },
    async close() {
      failAll(new ArkBatchError('E_ABORTED', 'the file writer thread was closed'));
      await worker.terminate();
    },
  };
}
