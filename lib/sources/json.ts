/**
 * Pure core of the JSON-array reader: one streamed array element → one Row, and the mapping of
 * stream-json's plain errors to E_JSON_PARSE. Streams live in transforms/rows-from-json.ts.
 */
import { ArkBatchError } from '../errors.ts';
import { describeJsonType, isJsonObject } from './json-value.ts';
import type { Row } from './row.ts';

/** `key` is the 0-based array position stream-json reports; rows and messages are 1-based. */
export function jsonElementToRow(key: number, value: unknown, file?: string): Row {
  const index = key + 1;
  if (isJsonObject(value)) return { index, record: value };
  const detail = `element ${index} is ${describeJsonType(value)}, expected an object`;
  return { index, error: new ArkBatchError('E_LINE_NOT_OBJECT', detail, { file, row: index }) };
}

/** stream-json's messages, made into located, coded errors; coded errors pass through. */
export function toJsonParseError(err: Error, file?: string): Error {
  if (err instanceof ArkBatchError) return err;
  const detail = /top-level object should be an array/i.test(err.message)
    ? 'the document is not a JSON array (expected `[` first)'
    : `malformed JSON: ${err.message}`;
  return new ArkBatchError('E_JSON_PARSE', detail, { file, cause: err });
}
