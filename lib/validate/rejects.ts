import { ArkBatchError } from '../errors.ts';

/** One rejected row or line, as written to the rejects file. */
export interface Reject {
  /** 1-based data row (prep) — absent for `validate`, which has lines. */
  readonly row?: number;
  readonly line?: number;
  readonly custom_id?: string;
  readonly code: string;
  readonly message: string;
  /** The source row (prep) or line text (validate). */
  readonly source?: unknown;
}

export interface RejectPolicyOptions {
  /** How many rejects are tolerated before the run stops. 0 = stop at the first. @default 0 */
  readonly maxRejects?: number;
  /** Receives every reject (write it to the rejects file, count it). */
  readonly onReject?: (reject: Reject, error: ArkBatchError) => void;
}

export interface RejectPolicy {
  /** Records a bad row; throws the row's own error when the run must stop. */
  reject(error: ArkBatchError, source?: () => unknown): void;
  readonly count: number;
}

/**
 * Fail fast by default; skipping is opt-in (`maxRejects`) and still reports every row.
 * With the default of 0 the first bad row's own error stops the run, so its message names
 * file, row and custom_id.
 */
export function createRejectPolicy(options: RejectPolicyOptions = {}): RejectPolicy {
  const max = options.maxRejects ?? 0;
  let count = 0;
  return {
    get count() {
      return count;
    },
    reject(error, source) {
      if (max === 0) throw error;
      count++;
      options.onReject?.(
        {
          row: error.row,
          line: error.line,
          custom_id: error.customId,
          code: error.code,
          message: error.detail,
          source: source?.(),
        },
        error,
      );
      if (count > max) {
        throw new ArkBatchError('E_TOO_MANY_REJECTS', `More than ${max} rejected rows; the last: ${error.message}`, {
          file: error.file,
          row: error.row,
          line: error.line,
          customId: error.customId,
        });
      }
    },
  };
}
