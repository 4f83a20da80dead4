import { ArkBatchError } from '../errors.ts';
import { DEFAULT_MAX_LINE_BYTES, TARGET_LIMITS, type Target } from '../requests/targets.ts';
import { checkBatchLine } from './check-line.ts';
import type { IdSeen } from './checker.ts';
import type { Line } from '../jsonl/lines.ts';

export interface FileValidatorOptions {
  /** @default 'ark' */
  readonly target?: Target;
  /** @default 8 MiB */
  readonly maxLineBytes?: number;
  /** @default the target's file limit (Ark 5 GiB, OpenAI 200 MB) */
  readonly maxFileBytes?: number;
  /** @default the target's line limit (OpenAI 50,000; Ark none) */
  readonly maxLines?: number;
  readonly ids: IdSeen;
  readonly file?: string;
  /** Token estimator for the summary; omitted → no estimate. */
  readonly estimateTokens?: (body: Record<string, unknown>) => number;
  /** Receives every problem, in line order. */
  readonly onProblem: (problem: ArkBatchError) => void;
}

export interface ValidateSummary {
  readonly file?: string;
  readonly lines: number;
  readonly bytes: number;
  /** Lines with a usable custom_id (duplicates excluded). */
  readonly ids: number;
  readonly problems: number;
  readonly estimatedInputTokens?: number;
  readonly valid: boolean;
}

/**
 * `validate` for a batch file written by anything: every precheck rule per line, uniqueness,
 * and the file limits. Problems are reported, never thrown, so one run lists them all.
 */
export function createFileValidator(options: FileValidatorOptions) {
  const target = options.target ?? 'ark';
  const limits = TARGET_LIMITS[target];
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const maxFileBytes = options.maxFileBytes ?? limits.maxFileBytes;
  const maxLines = options.maxLines ?? limits.maxLines;
  const file = options.file;
  let lines = 0;
  let ids = 0;
  let problems = 0;
  let tokens = 0;
  const problem = (e: ArkBatchError) => {
    problems++;
    options.onProblem(e);
  };

  return {
    check(item: Line): void {
      lines++;
      const ctx = { file, line: item.line };
      if (!item.validUtf8) return problem(new ArkBatchError('E_ENCODING', 'Line is not valid UTF-8', ctx));
      if (item.bytes > maxLineBytes) {
        return problem(new ArkBatchError('E_LINE_TOO_LARGE', `Line is ${item.bytes} bytes, over the ${maxLineBytes}-byte limit`, ctx));
      }
      if (item.text.trim() === '') return problem(new ArkBatchError('E_LINE_NOT_OBJECT', 'Line is empty', ctx));
      let value: unknown;
      try {
        value = JSON.parse(item.text);
      } catch (err) {
        return problem(new ArkBatchError('E_JSONL_PARSE', `Line is not JSON: ${(err as Error).message}`, ctx));
      }
      const bad = checkBatchLine(value, target, ctx);
      if (bad) return problem(bad);
      const line = value as { custom_id: string; body: Record<string, unknown> };
      const first = options.ids.add(line.custom_id, item.line);
      if (first !== null) {
        return problem(new ArkBatchError('E_ID_DUPLICATE', `custom_id ${JSON.stringify(line.custom_id)} duplicates line ${first}`, { ...ctx, customId: line.custom_id }));
      }
      ids++;
      if (options.estimateTokens) tokens += options.estimateTokens(line.body);
    },
    /** File-level rules, once every line has been seen; `bytes` is the file's exact size. */
    finish(bytes: number, spilledDuplicates = 0): ValidateSummary {
      problems += spilledDuplicates;
      ids -= spilledDuplicates;
      if (bytes > maxFileBytes) {
        problem(new ArkBatchError('E_FILE_TOO_LARGE', `File is ${bytes} bytes, over the ${maxFileBytes}-byte limit; split it (prep --split-bytes)`, { file }));
      }
      if (maxLines !== undefined && lines > maxLines) {
        problem(new ArkBatchError('E_FILE_TOO_LARGE', `File has ${lines} lines, over the ${maxLines}-line limit; split it (prep --split-lines)`, { file }));
      }
      if (lines === 0) problem(new ArkBatchError('E_ROW_INVALID', 'File has no lines', { file }));
      return {
        file,
        lines,
        bytes,
        ids,
        problems,
        ...(options.estimateTokens ? { estimatedInputTokens: tokens } : {}),
        valid: problems === 0,
      };
    },
  };
}
