/**
 * batchLinesFromCsv: CSV/TSV bytes in, LineBatches of prepared batch lines out — the fused
 * fast path of `prep` (lib/requests/csv-lines.ts). linesToFile, linesToParts and encodeJsonl
 * take the batches whole.
 */
import { Transform } from 'node:stream';
import { createCsvLines, type CsvLinesOptions } from '../lib/requests/csv-lines.ts';
import type { LineBatch } from '../lib/jsonl/line-batch.ts';
import type { PrepareStats } from '../lib/requests/prepare.ts';

export interface BatchLinesFromCsvOptions extends CsvLinesOptions {
  /**
   * Batches buffered on the readable side before input pauses; one input chunk may add the
   * batches it completes on top of this. @default 4
   */
  readonly highWaterMark?: number;
}

export function batchLinesFromCsv(options: BatchLinesFromCsvOptions): Transform & { readonly stats: PrepareStats } {
  const core = createCsvLines(options);
  const stream = new Transform({
    writableObjectMode: false,
    readableObjectMode: true,
    readableHighWaterMark: options.highWaterMark ?? 4,
    transform(chunk: Buffer, _encoding, callback) {
      try {
        core.push(chunk, out);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback();
    },
    flush(callback) {
      try {
        core.end(out);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback();
    },
  });
  const out = (batch: LineBatch) => {
    stream.push(batch);
  };
  return Object.assign(stream, { stats: core.stats });
}
