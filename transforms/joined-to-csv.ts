import { Transform } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { ArkBatchError } from '../lib/errors.ts';
import { cloneableCell, encodeCsvBatch, type CsvBatch } from '../lib/join/csv-batch.ts';
import { deserializeError, startWorker, type SerializedError } from '../lib/join/worker-pool.ts';

export interface JoinedToCsvOptions {
  /** Field delimiter. @default ',' */
  readonly delimiter?: string;
  /** Write a header row (the first row's keys). @default true */
  readonly header?: boolean;
  /** Rows encoded per csv-stringify call. @default 512 */
  readonly batchRows?: number;
  /** Encode on a worker thread (same bytes; this thread only gathers the cells). @default false */
  readonly worker?: boolean;
  /** Batches sent to the worker and not yet back before writes wait. @default 4 */
  readonly maxInFlightBatches?: number;
}

/**
 * Joined row objects in, CSV text out, through csv-stringify (lib/join/csv-batch.ts). Columns are
 * the first row's keys. Rows go to csv-stringify as arrays in batches: looking keys up in objects
 * cost more than the quoting. With `worker`, the batches are encoded on a worker thread, in order.
 */
export function joinedToCsv(options: JoinedToCsvOptions = {}): Transform {
  const batchRows = options.batchRows ?? 512;
  const delimiter = options.delimiter ?? ',';
  const maxInFlight = options.maxInFlightBatches ?? 4;
  const cell = options.worker ? cloneableCell : (v: unknown) => v;
  let columns: string[] | null = null;
  let batch: unknown[][] = [];
  let first = true;
  const take = (): CsvBatch => {
    const b = { rows: batch, columns: columns ?? [], header: first && (options.header ?? true) && columns !== null, delimiter };
    first = false;
    batch = [];
    return b;
  };
  let worker: Worker | null = null;
  let inFlight = 0;
  let parked: (() => void) | null = null;
  let flushed: (() => void) | null = null;
  const stop = () => {
    const w = worker;
    worker = null;
    void w?.terminate();
  };
  const send = (b: CsvBatch) => {
    if (!worker) {
      worker = startWorker('csv-worker');
      worker.on('message', onReply);
      worker.on('error', (err) => stream.destroy(err));
      worker.on('exit', (code) => worker && stream.destroy(new ArkBatchError('E_IO', `the CSV worker stopped (exit code ${code})`)));
    }
    inFlight++;
    worker.postMessage(b);
  };
  const onReply = (msg: { ok: true; bytes: Uint8Array } | { ok: false; error: SerializedError }) => {
    inFlight--;
    if (stream.destroyed) return;
    if (!msg.ok) return void stream.destroy(deserializeError(msg.error));
    stream.push(Buffer.from(msg.bytes.buffer, msg.bytes.byteOffset, msg.bytes.byteLength));
    const next = inFlight < maxInFlight ? parked : null;
    if (next) (parked = null), next();
    if (flushed && inFlight === 0) {
      const done = flushed;
      flushed = null;
      stop();
      done();
    }
  };
  const stream: Transform = new Transform({
    writableObjectMode: true,
    writableHighWaterMark: 64,
    transform(row: Record<string, unknown>, _enc, callback) {
      try {
        columns ??= Object.keys(row);
        batch.push(columns.map((c) => cell(row[c])));
        if (batch.length < batchRows) return callback();
        if (!options.worker) return callback(null, encodeCsvBatch(take()));
        send(take());
      } catch (err) {
        return callback(err as Error);
      }
      if (inFlight < maxInFlight) callback();
      else parked = callback;
    },
    flush(callback) {
      try {
        if (!options.worker) return callback(null, batch.length === 0 ? undefined : encodeCsvBatch(take()));
        if (batch.length > 0) send(take());
      } catch (err) {
        return callback(err as Error);
      }
      if (inFlight === 0) {
        stop();
        callback();
      } else flushed = callback;
    },
    destroy(err, callback) {
      stop();
      callback(err);
    },
  });
  return stream;
}
