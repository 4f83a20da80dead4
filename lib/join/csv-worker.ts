/** Worker side of `joinedToCsv({ worker: true })`: each batch in, its CSV bytes out (transferred), in order. */
import { parentPort } from 'node:worker_threads';
import { encodeCsvBatch, type CsvBatch } from './csv-batch.ts';
import { serializeError } from './worker-pool.ts';

const encoder = new TextEncoder();
parentPort!.on('message', (batch: CsvBatch) => {
  try {
    const bytes = encoder.encode(encodeCsvBatch(batch));
    parentPort!.postMessage({ ok: true, bytes }, [bytes.buffer]);
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: serializeError(err) });
  }
});
