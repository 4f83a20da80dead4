/**
 * JSON bytes in (one top-level array of objects), Rows out, one per element, streamed with
 * stream-json so only one element is held at a time however large the array. A non-object
 * element is a Row with `error` (E_LINE_NOT_OBJECT); a document that is not an array or is
 * malformed fails the stream with E_JSON_PARSE.
 */
import { Transform } from 'node:stream';
import type { Duplex } from 'node:stream';
import streamJson from 'stream-json';
import StreamArray from 'stream-json/streamers/StreamArray.js';
import { compose, mapDestroyError } from '../lib/streams/compose.ts';
import { jsonElementToRow, toJsonParseError } from '../lib/sources/json.ts';

export interface RowsFromJsonOptions {
  /** Source name put on errors. */
  readonly file?: string;
}

/** @returns a Duplex: write Buffers, read `Row` objects. */
export function rowsFromJson(options: RowsFromJsonOptions = {}): Duplex {
  const { file } = options;
  const toError = (err: Error) => toJsonParseError(err, file);
  const parser = mapDestroyError(streamJson.parser(), toError);
  const elements = mapDestroyError(StreamArray.streamArray(), toError);
  const toRows = new Transform({
    objectMode: true,
    transform(chunk: { key: number; value: unknown }, _encoding, callback) {
      callback(null, jsonElementToRow(chunk.key, chunk.value, file));
    },
  });
  return compose(parser, elements, toRows);
}
