/**
 * The thread of lib/jsonl/threaded-file-sink.ts: writes chunks to file descriptors of this
 * process and keeps each file's sha256, so that neither the hashing nor the write system calls
 * cost the thread that prepares the lines.
 */
import { createHash, type Hash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { serializeError } from '../errors.ts';

/** Write a chunk to `fd`, or end it: the reply to an end carries the sha256 of what was written. */
export type FileWriterRequest = { readonly type: 'write'; readonly fd: number; readonly chunk: Uint8Array } | { readonly type: 'end'; readonly fd: number };
export type ToFileWriter = FileWriterRequest & { readonly id: number };

export type FromFileWriter =
  | { readonly type: 'done'; readonly id: number; readonly sha256?: string }
  | { readonly type: 'failed'; readonly id: number; readonly error: ReturnType<typeof serializeError> };

export function serveFileWriter(port: MessagePort): void {
  const hashes = new Map<number, Hash>();
  port.on('message', (m: ToFileWriter) => {
    try {
      let hash = hashes.get(m.fd);
      if (hash === undefined) hashes.set(m.fd, (hash = createHash('sha256')));
      if (m.type === 'write') {
        const chunk = m.chunk;
        for (let off = 0; off < chunk.length; ) off += writeSync(m.fd, chunk, off, chunk.length - off);
        hash.update(chunk);
        port.postMessage({ type: 'done', id: m.id } satisfies FromFileWriter);
      } else {
        hashes.delete(m.fd);
        port.postMessage({ type: 'done', id: m.id, sha256: hash.digest('hex') } satisfies FromFileWriter);
      }
    } catch (err) {
      hashes.delete(m.fd);
      port.postMessage({ type: 'failed', id: m.id, error: serializeError(err) } satisfies FromFileWriter);
    }
  });
}

if (parentPort && (workerData as { kind?: string } | undefined)?.kind === 'file-writer') serveFileWriter(parentPort);
