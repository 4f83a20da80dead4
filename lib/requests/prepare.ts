import type { ArkBatchError } from '../errors.ts';
import { rowToObject, type Row } from '../sources/row.ts';
import { createLineChecker, type CheckerOptions } from '../validate/checker.ts';
import { createRejectPolicy, type RejectPolicyOptions } from '../validate/rejects.ts';
import { createRequestBuilder, type BuildOptions } from './build.ts';

export interface PrepareOptions extends BuildOptions, RejectPolicyOptions, Omit<CheckerOptions, 'file' | 'trustedBody'> {}

/** Counts that always reconcile: rowsRead = written + rejected + skipped. */
export interface PrepareStats {
  rowsRead: number;
  written: number;
  rejected: number;
  /** Rows left out on purpose by `--on-empty skip-row`. */
  skipped: number;
  /** Output bytes, newlines included. */
  bytes: number;
}

/**
 * The whole per-row path of `prep` as one function: template, custom_id, schema, size,
 * uniqueness, reject policy. Returns the encoded line (no newline) or null when the row was
 * rejected or skipped; throws when the run must stop.
 */
export function createPreparer(options: PrepareOptions): { prepare(row: Row): string | null; readonly stats: PrepareStats } {
  const build = createRequestBuilder(options);
  const checker = createLineChecker({ ...options, trustedBody: false });
  const policy = createRejectPolicy(options);
  const stats: PrepareStats = { rowsRead: 0, written: 0, rejected: 0, skipped: 0, bytes: 0 };
  const reject = (row: Row, error: ArkBatchError) => {
    stats.rejected++;
    policy.reject(error, () => rowToObject(row));
  };
  return {
    stats,
    prepare(row) {
      stats.rowsRead++;
      const built = build(row);
      if (!built.ok) {
        if (built.skip) {
          stats.skipped++;
          return null;
        }
        reject(row, built.error);
        return null;
      }
      const checked = checker.check(built.line, { row: row.index, line: row.line });
      if (!checked.ok) {
        reject(row, checked.error);
        return null;
      }
      stats.written++;
      stats.bytes += checked.bytes + 1;
      return checked.json;
    },
  };
}
