import { stringify } from 'csv-stringify';
import type { Transform } from 'node:stream';

export interface JoinedToCsvOptions {
  /** Field delimiter. @default ',' */
  readonly delimiter?: string;
  /** Write a header row (the first row's keys). @default true */
  readonly header?: boolean;
}

/**
 * Joined row objects in, CSV text out, through csv-stringify. Columns are the first row's keys;
 * null is an empty cell, nested values are JSON text, booleans are `true`/`false`.
 */
export function joinedToCsv(options: JoinedToCsvOptions = {}): Transform {
  return stringify({
    header: options.header ?? true,
    delimiter: options.delimiter ?? ',',
    cast: {
      boolean: (v) => String(v),
      bigint: (v) => v.toString(),
      object: (v) => JSON.stringify(v),
    },
  });
}
