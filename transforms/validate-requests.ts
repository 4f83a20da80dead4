import { Transform } from 'node:stream';
import { rowToObject } from '../lib/sources/row.ts';
import { createLineChecker, type CheckerOptions } from '../lib/validate/checker.ts';
import type { EncodedLine, RequestItem } from '../lib/validate/items.ts';
import { createRejectPolicy, type RejectPolicyOptions } from '../lib/validate/rejects.ts';

/** `{line, row}` items in, checked and encoded lines out; bad lines go to the reject policy. */
export function validateRequests(options: CheckerOptions & RejectPolicyOptions): Transform {
  const checker = createLineChecker(options);
  const policy = createRejectPolicy(options);
  return new Transform({
    objectMode: true,
    transform(item: RequestItem, _enc, callback) {
      try {
        const r = checker.check(item.line, { row: item.row.index, line: item.row.line });
        if (r.ok) {
          return callback(null, { customId: item.line.custom_id, json: r.json, bytes: r.bytes, row: item.row.index } satisfies EncodedLine);
        }
        policy.reject(r.error, () => rowToObject(item.row));
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}
