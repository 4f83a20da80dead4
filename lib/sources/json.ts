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

export const DEFAULT_MAX_ELEMENT_BYTES = 128 * 1024 * 1024;

/** A stream-json token, as its parser emits them with default options. */
export interface JsonToken {
  readonly name: string;
  readonly value?: unknown;
}

const VALUE_STARTS = new Set(['startObject', 'startArray', 'startString', 'startNumber', 'nullValue', 'trueValue', 'falseValue']);
const CHUNKS = new Set(['stringChunk', 'numberChunk', 'keyChunk']);

/**
 * Bounds the size of one array element, which stream-json assembles whole in memory. Counts the
 * UTF-8 bytes of string, key and number chunks plus one per structural token, as the tokens
 * stream by, so an oversized element is stopped while it is still arriving. Returns a checker
 * to call on every token in order; it throws E_BUFFER_LIMIT on the token that crosses the bound.
 */
export function createElementSizeGuard(
  maxElementBytes: number = DEFAULT_MAX_ELEMENT_BYTES,
  file?: string,
): (token: JsonToken) => void {
  if (!Number.isSafeInteger(maxElementBytes) || maxElementBytes < 1) {
    throw new ArkBatchError(
      'E_USAGE',
      `Expected maxElementBytes to be a positive integer, got ${String(maxElementBytes)} (${typeof maxElementBytes})`,
    );
  }
  let depth = 0;
  let element = 0;
  let size = 0;
  return (token) => {
    if (depth === 1 && VALUE_STARTS.has(token.name)) {
      element++;
      size = 0;
    }
    if (token.name === 'startObject' || token.name === 'startArray') depth++;
    else if (token.name === 'endObject' || token.name === 'endArray') depth--;
    size += CHUNKS.has(token.name) ? Buffer.byteLength(String(token.value)) : 1;
    if (depth >= 1 && size > maxElementBytes) {
      throw new ArkBatchError('E_BUFFER_LIMIT', `element ${element} is larger than maxElementBytes=${maxElementBytes}`, {
        file,
        row: element,
      });
    }
  };
}

/**
 * Strict streaming UTF-8 decoding for the JSON reader: stream-json's own decoder would turn bad
 * bytes into U+FFFD silently. Returns a function decoding one chunk (pass `end` for the last
 * call) that throws E_ENCODING naming the byte range of the offending chunk. A leading BOM is
 * dropped.
 */
export function createStrictUtf8Decoder(file?: string): (chunk: Uint8Array, end?: boolean) => string {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  return (chunk, end = false) => {
    const start = offset;
    offset += chunk.length;
    try {
      return decoder.decode(chunk, { stream: !end });
    } catch (cause) {
      throw new ArkBatchError('E_ENCODING', `the document is not valid UTF-8 (within bytes ${start}-${offset})`, { file, cause });
    }
  };
}
