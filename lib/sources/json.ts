/**
 * Pure core of the JSON-array reader: stream-json parser tokens in, one Row per top-level array
 * element out (with a bound on element size); plus strict UTF-8 decoding and the mapping of
 * stream-json's plain errors to E_JSON_PARSE. Streams live in transforms/rows-from-json.ts.
 *
 * Elements are assembled here rather than by stream-json's StreamArray: its Assembler stores
 * keys with `obj[key] = value`, so a "__proto__" key replaced the record's prototype (or was
 * dropped when its value was a primitive). JSON.parse keeps it as a plain own property; so do we.
 */
import { ArkBatchError } from '../errors.ts';
import { describeJsonType, isJsonObject } from './json-value.ts';
import type { Row } from './row.ts';

/** `key` is the 0-based array position; rows and messages are 1-based. */
export function jsonElementToRow(key: number, value: unknown, file?: string): Row {
  const index = key + 1;
  if (isJsonObject(value)) return { index, record: value };
  const detail = `element ${index} is ${describeJsonType(value)}, expected an object`;
  return { index, error: new ArkBatchError('E_LINE_NOT_OBJECT', detail, { file, row: index }) };
}

/** stream-json's messages, made into located, coded errors; coded errors pass through. */
export function toJsonParseError(err: Error, file?: string): Error {
  if (err instanceof ArkBatchError) return err;
  return new ArkBatchError('E_JSON_PARSE', `malformed JSON: ${err.message}`, { file, cause: err });
}

export const DEFAULT_MAX_ELEMENT_BYTES = 128 * 1024 * 1024;

/** A stream-json token, as its parser emits them with default options. */
export interface JsonToken {
  readonly name: string;
  readonly value?: unknown;
}

export interface JsonArrayReaderOptions {
  /** Source name put on errors. */
  readonly file?: string;
  /**
   * Bound on one element, which is assembled whole in memory: the UTF-8 bytes of its string, key
   * and number chunks plus one per token, counted as the tokens arrive, so an oversized element
   * is stopped while it is still streaming in.
   * @default 134217728 (128 MiB)
   */
  readonly maxElementBytes?: number;
}

const VALUE_STARTS = new Set(['startObject', 'startArray', 'startString', 'startNumber', 'nullValue', 'trueValue', 'falseValue']);
const CHUNKS = new Set(['stringChunk', 'numberChunk', 'keyChunk']);

type Container = Record<string, unknown> | unknown[];

/**
 * Returns a stateful reader: call it with every parser token in order; it returns a Row when a
 * top-level element completes, else undefined. Throws E_JSON_PARSE when the document does not
 * start with an array, E_BUFFER_LIMIT for an element over `maxElementBytes`.
 */
export function createJsonArrayReader(options: JsonArrayReaderOptions = {}): (token: JsonToken) => Row | undefined {
  const { file } = options;
  const maxElementBytes = options.maxElementBytes ?? DEFAULT_MAX_ELEMENT_BYTES;
  if (!Number.isSafeInteger(maxElementBytes) || maxElementBytes < 1) {
    throw new ArkBatchError(
      'E_USAGE',
      `Expected maxElementBytes to be a positive integer, got ${String(maxElementBytes)} (${typeof maxElementBytes})`,
    );
  }
  let started = false;
  let size = 0;
  let elements = 0;
  const open: Container[] = []; // containers of the element being built, outermost first
  const parentKeys: (string | undefined)[] = [];
  let key: string | undefined;

  function save(value: unknown): Row | undefined {
    const top = open.at(-1);
    if (top === undefined) return jsonElementToRow(elements++, value, file);
    if (Array.isArray(top)) top.push(value);
    else if (key === '__proto__') Object.defineProperty(top, key, { value, writable: true, enumerable: true, configurable: true });
    else top[key as string] = value;
    return undefined;
  }

  function checkSize(token: JsonToken): void {
    if (open.length === 0 && VALUE_STARTS.has(token.name)) size = 0;
    size += CHUNKS.has(token.name) ? Buffer.byteLength(String(token.value)) : 1;
    if (size > maxElementBytes) {
      const element = elements + 1;
      throw new ArkBatchError('E_BUFFER_LIMIT', `element ${element} is larger than maxElementBytes=${maxElementBytes}`, {
        file,
        row: element,
      });
    }
  }

  return (token) => {
    if (!started) {
      if (token.name !== 'startArray') {
        throw new ArkBatchError('E_JSON_PARSE', 'the document is not a JSON array (expected `[` first)', { file });
      }
      started = true;
      return undefined;
    }
    checkSize(token);
    switch (token.name) {
      case 'startObject':
      case 'startArray':
        parentKeys.push(key);
        open.push(token.name === 'startObject' ? {} : []);
        key = undefined;
        return undefined;
      case 'endObject':
      case 'endArray': {
        if (open.length === 0) return undefined; // the top-level array closes
        const value = open.pop();
        key = parentKeys.pop();
        return save(value);
      }
      case 'keyValue':
        key = String(token.value);
        return undefined;
      case 'stringValue':
        return save(token.value);
      case 'numberValue':
        return save(Number(token.value));
      case 'nullValue':
        return save(null);
      case 'trueValue':
        return save(true);
      case 'falseValue':
        return save(false);
      default:
        return undefined; // streamed pieces (startString, stringChunk, …): the packed value follows
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
