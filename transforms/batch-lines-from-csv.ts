/**
 * batchLinesFromCsv: CSV/TSV bytes in, LineBatches of prepared batch lines out — the fused
 * fast path of `prep` (lib/requests/csv-lines.ts). linesToFile, linesToParts and encodeJsonl
 * take the batches whole.
 */
import type { Transform } from 'node:stream';
import { transformFromCore } from '../lib/streams/core-transform.ts';
import { createCsvLines, type CsvLinesOptions } from '../lib/requests/csv-lines.ts';
import type { LineBatch } from '../lib/jsonl/line-batch.ts';
import type { PrepareStats } from '../lib/requests/prepare.ts';

export interface BatchLinesFromCsvOptions extends CsvLinesOptions {
  /**
   * Batches buffered on the readable side before input pauses; one input chunk may add the
   * batches it completes on top of this. @default 4
   */
  readonly highWaterMark?: number;
  /** Called with each input chunk once it has been consumed (the parser copies what it keeps): see ReadAhead.recycle. */
  readonly recycle?: (chunk: Uint8Array) => void;
}

export function batchLinesFromCsv(options: BatchLinesFromCsvOptions): Transform & { readonly stats: PrepareStats } {
  const core = createCsvLines(options);
  const recycle = options.recycle;
  const stream = transformFromCore<LineBatch>(
    recycle === undefined
      ? core
      : {
          push(chunk, emit) {
            core.push(chunk, emit);
            recycle(chunk);
          },
          end: (emit) => core.end(emit),
        },
    options.highWaterMark ?? 4,
  );
  return Object.assign(stream, { stats: core.stats });
}
