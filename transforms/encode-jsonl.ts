import { Transform } from 'node:stream';
import { isLineBatch } from '../lib/jsonl/line-batch.ts';

export interface EncodeJsonlOptions {
  /** Lines gathered into one output chunk; fewer, larger writes are much cheaper. @default 256 */
  readonly linesPerChunk?: number;
}

/**
 * Objects (or already-encoded lines: strings, `{json}` items, LineBatches) in, JSONL bytes out. Lines are
 * gathered into chunks of `linesPerChunk` and the rest flushed at the end.
 */
export function encodeJsonl(options: EncodeJsonlOptions = {}): Transform {
  const perChunk = options.linesPerChunk ?? 256;
  let pending: (string | Buffer)[] = [];
  const NL = Buffer.from('\n');
  const flush = (t: Transform) => {
    if (!pending.length) return;
    if (pending.every((p) => typeof p === 'string')) t.push(Buffer.from(pending.join('\n') + '\n'));
    else t.push(Buffer.concat(pending.flatMap((p) => [typeof p === 'string' ? Buffer.from(p) : p, NL])));
    pending = [];
  };
  return new Transform({
    writableObjectMode: true,
    transform(item: unknown, _enc, callback) {
      if (isLineBatch(item)) {
        // Already JSONL bytes: passed on whole, after the lines gathered before it.
        flush(this);
        callback(null, item.data);
        return;
      }
      pending.push(typeof item === 'string' || Buffer.isBuffer(item) ? item : isEncoded(item) ? item.json : JSON.stringify(item));
      if (pending.length >= perChunk) flush(this);
      callback();
    },
    flush(callback) {
      flush(this);
      callback();
    },
  });
}

function isEncoded(v: unknown): v is { json: string } {
  return typeof v === 'object' && v !== null && typeof (v as { json?: unknown }).json === 'string' && !('custom_id' in v);
}
