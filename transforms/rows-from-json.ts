/**
 * JSON bytes in (one top-level array of objects), Rows out, one per element, streamed with
 * stream-json so only one element is held at a time however large the array. A non-object
 * element is a Row with `error` (E_LINE_NOT_OBJECT); a document that is not an array or is
 * malformed fails the stream with E_JSON_PARSE; an element over `maxElementBytes` with E_BUFFER_LIMIT.
 */
import { Transform } from 'node:stream';
import type { Duplex } from 'node:stream';
import streamJson from 'stream-json';
import StreamArray from 'stream-json/streamers/StreamArray.js';
import { compose, mapDestroyError } from '../lib/streams/compose.ts';
import { createElementSizeGuard, jsonElementToRow, toJsonParseError } from '../lib/sources/json.ts';
import type { JsonToken } from '../lib/sources/json.ts';

export interface RowsFromJsonOptions {
  /** Source name put on errors. */
  readonly file?: string;
  /**
   * Largest array element accepted, measured as the UTF-8 bytes of its strings, keys and numbers
   * plus one per parser token; a larger one fails with E_BUFFER_LIMIT while still arriving.
   * @default 134217728 (128 MiB)
   */
  readonly maxElementBytes?: number;
}

/** @returns a Duplex: write Buffers, read `Row` objects. */
export function rowsFromJson(options: RowsFromJsonOptions = {}): Duplex {
  const { file } = options;
  const toError = (err: Error) => toJsonParseError(err, file);
  const parser = mapDestroyError(streamJson.parser(), toError);
  const tooBig = createElementSizeGuard(options.maxElementBytes, file);
  const guard = new Transform({
    objectMode: true,
    transform(token: JsonToken, _encoding, callback) {
      const error = tooBig(token);
      if (error) callback(error);
      else callback(null, token);
    },
  });
  const elements = mapDestroyError(StreamArray.streamArray(), toError);
  const toRows = new Transform({
    objectMode: true,
    transform(chunk: { key: number; value: unknown }, _encoding, callback) {
      callback(null, jsonElementToRow(chunk.key, chunk.value, file));
    },
  });
  return compose(parser, guard, elements, toRows);
}
