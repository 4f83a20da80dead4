import { Transform } from 'node:stream';
import { createParquetEncoder, type ParquetEncoderOptions } from '../lib/join/parquet-out.ts';

export type JoinedToParquetOptions = ParquetEncoderOptions;

/** Joined row objects in, Parquet file bytes out (one row group buffered at a time). */
export function joinedToParquet(options: JoinedToParquetOptions = {}): Transform {
  const encoder = createParquetEncoder(options);
  return new Transform({
    writableObjectMode: true,
    writableHighWaterMark: 64,
    transform(row: Record<string, unknown>, _enc, callback) {
      let chunks: Uint8Array[];
      try {
        chunks = encoder.add(row);
      } catch (err) {
        return callback(err as Error);
      }
      for (const c of chunks) this.push(c);
      callback();
    },
    flush(callback) {
      let chunks: Uint8Array[];
      try {
        chunks = encoder.end();
      } catch (err) {
        return callback(err as Error);
      }
      for (const c of chunks) this.push(c);
      callback();
    },
  });
}
