import { ArkBatchError } from '../errors.ts';
import type { BatchLine, Target } from '../requests/targets.ts';
import { DEFAULT_MAX_LINE_BYTES } from '../requests/targets.ts';
import { checkBatchLine } from './check-line.ts';
import { textOf } from '../sources/row.ts';

/** The part of the id tracker the checker needs (lib/validate/id-tracker.ts implements it). */
export interface IdSeen {
  /** Records the id; returns the row of an earlier occurrence, or null. */
  add(id: string, row: number): number | null;
}

export interface CheckerOptions {
  /** @default 'ark' */
  readonly target?: Target;
  /** @default 8 MiB */
  readonly maxLineBytes?: number;
  /** Total bytes allowed in one output file; undefined when the output is split into parts. */
  readonly maxFileBytes?: number;
  /** Lines allowed in one output file (OpenAI: 50,000); undefined when split. */
  readonly maxLines?: number;
  /** Uniqueness tracker; null when ids are unique by construction (`row-<n>`). */
  readonly ids: IdSeen | null;
  readonly file?: string;
  /** Skip the schema (the caller validated the body already). @default false */
  readonly trustedBody?: boolean;
}

export type CheckResult =
  | { readonly ok: true; readonly json: string; readonly bytes: number }
  | { readonly ok: false; readonly error: ArkBatchError };

export interface LineChecker {
  /**
   * Checks one line object and encodes it; `row` is the 1-based source row used in messages.
   * `binary`: the line's strings are latin1 binary strings (CSV fast path), so the JSON text
   * is too, and its length is its UTF-8 byte count.
   */
  check(line: BatchLine, where: { row?: number; line?: number; binary?: boolean }): CheckResult;
  /**
   * The checks after the schema, on a line already encoded as `json` (whose body the caller has
   * proven valid): size, uniqueness and the file limits. `check` is the schema plus this.
   */
  checkEncoded(customId: string, json: string, where: { row?: number; line?: number; binary?: boolean }): CheckResult;
  /** `checkEncoded` for a line of `bytes` bytes (no newline) already written elsewhere: the problem, or null when it is accepted. */
  admit(customId: string, bytes: number, where: { row?: number; line?: number; binary?: boolean }): ArkBatchError | null;
  /** Bytes (with newlines) and lines accepted so far. */
  readonly totals: { readonly lines: number; readonly bytes: number };
}

/** Built only on the error path: decoding a binary id for every row would cost more than the check. */
function errorContext(file: string | undefined, customId: string, where: { row?: number; line?: number; binary?: boolean }) {
  return { file, row: where.row, line: where.line, customId: where.binary ? textOf(customId) : customId };
}

/**
 * Per-line checks for lines we build (prep): schema, encoded size, uniqueness, and the
 * running file limits. Limits of the whole file are fatal (thrown): no reject can fix them.
 */
export function createLineChecker(options: CheckerOptions): LineChecker {
  const target = options.target ?? 'ark';
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const totals = { lines: 0, bytes: 0 };
  function admit(customId: string, bytes: number, where: { row?: number; line?: number; binary?: boolean }): ArkBatchError | null {
    if (bytes > maxLineBytes) {
      return new ArkBatchError('E_LINE_TOO_LARGE', `Line is ${bytes} bytes, over the ${maxLineBytes}-byte limit (--max-line-bytes)`, errorContext(options.file, customId, where));
    }
    if (options.ids && where.row !== undefined) {
      const first = options.ids.add(customId, where.row);
      if (first !== null) return new ArkBatchError('E_ID_DUPLICATE', `custom_id duplicates row ${first}`, errorContext(options.file, customId, where));
    }
    totals.lines++;
    totals.bytes += bytes + 1;
    if (options.maxFileBytes !== undefined && totals.bytes > options.maxFileBytes) {
      throw new ArkBatchError('E_FILE_TOO_LARGE', `Output passes the ${options.maxFileBytes}-byte file limit; split it with --split-bytes`, errorContext(options.file, customId, where));
    }
    if (options.maxLines !== undefined && totals.lines > options.maxLines) {
      throw new ArkBatchError('E_FILE_TOO_LARGE', `Output passes the ${options.maxLines}-line file limit; split it with --split-lines`, errorContext(options.file, customId, where));
    }
    return null;
  }

  function checkEncoded(customId: string, json: string, where: { row?: number; line?: number; binary?: boolean }): CheckResult {
    const bytes = where.binary ? json.length : Buffer.byteLength(json);
    const problem = admit(customId, bytes, where);
    return problem === null ? { ok: true, json, bytes } : { ok: false, error: problem };
  }

  return {
    totals,
    checkEncoded,
    admit,
    check(line, where) {
      if (!options.trustedBody) {
        const problem = checkBatchLine(line, target, {});
        if (problem) return { ok: false, error: new ArkBatchError(problem.code, problem.detail, errorContext(options.file, line.custom_id, where)) };
      }
      return checkEncoded(line.custom_id, JSON.stringify(line), where);
    },
  };
}
