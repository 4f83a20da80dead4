import { Transform } from 'node:stream';
import { createRequestBuilder, type BuildOptions } from '../lib/requests/build.ts';
import { rowToObject, type Row } from '../lib/sources/row.ts';
import { createRejectPolicy, type RejectPolicyOptions } from '../lib/validate/rejects.ts';
import type { RequestItem } from '../lib/validate/items.ts';

/** Rows in, `{line, row}` items out: template and custom_id applied; bad rows go to the reject policy. */
export function buildRequests(options: BuildOptions & RejectPolicyOptions): Transform {
  const build = createRequestBuilder(options);
  const policy = createRejectPolicy(options);
  return new Transform({
    objectMode: true,
    transform(row: Row, _enc, callback) {
      try {
        const r = build(row);
        if (r.ok) return callback(null, { line: r.line, row } satisfies RequestItem);
        if (!r.skip) policy.reject(r.error, () => rowToObject(row));
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}
