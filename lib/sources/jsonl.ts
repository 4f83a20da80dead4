/**
 * Pure core of the JSONL reader: one physical line → at most one Row. Streams live in
 * transforms/rows-from-jsonl.ts; this knows nothing about them.
 */
import { ArkBatchError } from '../errors.ts';
import type { Line } from '../jsonl/lines.ts';
import { describeJsonType, isJsonObject } from './json-value.ts';
import type { Row } from './row.ts';

export interface JsonlRowOptions {
  /** Source name put on row errors. */
  readonly file?: string;
}

// JSON's own whitespace; a line of only these is blank and is skipped.
const BLANK = /^[ \t\r]*$/;

/**
 * Returns a stateful reader: call it with each line in order. Blank lines give `undefined` (they
 * still count for `line`, not for `index`); every other line gives a Row with either `record` or
 * `error` (E_ENCODING, E_JSONL_PARSE, E_LINE_NOT_OBJECT), never both.
 */
export function createJsonlRowReader(options: JsonlRowOptions = {}): (line: Line) => Row | undefined {
  const file = options.file;
  let index = 0;
  return (l: Line): Row | undefined => {
    if (l.validUtf8 && BLANK.test(l.text)) return undefined;
    index++;
    const where = { file, line: l.line, row: index };
    if (!l.validUtf8) {
      return { index, line: l.line, error: new ArkBatchError('E_ENCODING', 'line is not valid UTF-8', where) };
    }
    let value: unknown;
    try {
      value = JSON.parse(l.text);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      const error = new ArkBatchError('E_JSONL_PARSE', `line is not valid JSON: ${reason}`, { ...where, cause });
      return { index, line: l.line, error };
    }
    if (!isJsonObject(value)) {
      const error = new ArkBatchError('E_LINE_NOT_OBJECT', `line is ${describeJsonType(value)}, expected an object`, where);
      return { index, line: l.line, error };
    }
    return { index, line: l.line, record: value };
  };
}
