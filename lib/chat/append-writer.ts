/**
 * Appends whole lines to a results/errors file. Lines are gathered and written in one `write`
 * per flush (every `flushIntervalMs`, or when `maxBufferBytes` are waiting), so a kill -9 can at
 * worst leave one torn last line, which `repairTornTail` cuts off before the next run appends.
 */
import { promises as fs } from 'node:fs';
import { ArkBatchError } from '../errors.ts';

export interface AppendWriterOptions {
  /** Longest time a finished line waits in memory, in ms. @default 1000 */
  readonly flushIntervalMs?: number;
  /** Bytes waiting in memory before `write` waits for a flush. @default 1048576 (1 MiB) */
  readonly maxBufferBytes?: number;
}

export interface AppendWriter {
  /** Queues one line (without its newline); resolves at once unless the buffer is full. */
  write(line: string): Promise<void>;
  /** Writes everything queued so far. */
  flush(): Promise<void>;
  /** Flushes, then closes the file. */
  close(): Promise<void>;
}

export async function openAppendWriter(path: string, options: AppendWriterOptions = {}): Promise<AppendWriter> {
  const maxBufferBytes = options.maxBufferBytes ?? 1024 * 1024;
  const fh = await fs.open(path, 'a').catch((cause: unknown) => {
    throw new ArkBatchError('E_IO', `cannot open ${path} for appending`, { file: path, cause });
  });
  let pending: string[] = [];
  let pendingBytes = 0;
  let chain: Promise<void> = Promise.resolve();
  let failure: unknown;
  let closed = false;

  const flush = (): Promise<void> => {
    if (pending.length > 0) {
      const text = pending.join('');
      pending = [];
      pendingBytes = 0;
      chain = chain.then(async () => {
        if (failure !== undefined) return;
        try {
          await fh.write(text);
        } catch (cause) {
          failure = new ArkBatchError('E_IO', `cannot write to ${path}`, { file: path, cause });
        }
      });
    }
    return chain.then(() => {
      if (failure !== undefined) throw failure;
    });
  };
  const timer = setInterval(() => void flush().catch(() => undefined), options.flushIntervalMs ?? 1000);
  // The timer only drives flushes; it must not keep a finished process alive.
  timer.unref();

  return {
    write(line) {
      if (closed) return Promise.reject(new ArkBatchError('E_USAGE', `Expected write() before close() on ${path}, got a call after it`));
      if (failure !== undefined) return Promise.reject(failure);
      pending.push(line + '\n');
      pendingBytes += line.length + 1;
      return pendingBytes >= maxBufferBytes ? flush() : Promise.resolve();
    },
    flush,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      try {
        await flush();
      } finally {
        await fh.close();
      }
    },
  };
}
