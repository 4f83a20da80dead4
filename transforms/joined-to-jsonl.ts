import { Transform } from 'node:stream';

export interface JoinedToJsonlOptions {
  /** Lines buffered before the readable side applies backpressure. @default 64 */
  readonly highWaterMark?: number;
}

const bigintAsText = (_key: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

/** Joined row objects in, one JSON line each out. */
export function joinedToJsonl(options: JoinedToJsonlOptions = {}): Transform {
  return new Transform({
    writableObjectMode: true,
    writableHighWaterMark: options.highWaterMark ?? 64,
    transform(row: Record<string, unknown>, _enc, callback) {
      callback(null, JSON.stringify(row, bigintAsText) + '\n');
    },
  });
}
