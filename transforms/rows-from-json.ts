/**
 * JSON bytes in (one top-level array of objects), Rows out, one per element, tokenised by
 * stream-json so only one element is held at a time however large the array. A non-object
 * element is a Row with `error` (E_LINE_NOT_OBJECT). The stream fails with E_JSON_PARSE for a
 * document that is not an array or is malformed, E_BUFFER_LIMIT for an element over
 * `maxElementBytes`, and E_ENCODING for invalid UTF-8 anywhere (the document cannot be trusted).
 */
import type { Duplex } from 'node:stream';
import streamJson from 'stream-json';
import { compose, mapChunks, mapDestroyError } from '../lib/streams/compose.ts';
import { createJsonArrayReader, createStrictUtf8Decoder, toJsonParseError } from '../lib/sources/json.ts';
import type { JsonToken } from '../lib/sources/json.ts';
import type { Row } from '../lib/sources/row.ts';

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
  const { file, maxElementBytes } = options;
  const decode = createStrictUtf8Decoder(file);
  const text = mapChunks<Buffer, string>(
    { readableObjectMode: true },
    (chunk) => decode(chunk) || undefined,
    () => decode(new Uint8Array(0), true) || undefined,
  );
  // Fed strings (decodeStrings: false), the parser skips its own lenient UTF-8 decoding.
  const parser = mapDestroyError(streamJson.parser({ decodeStrings: false }), (err) => toJsonParseError(err, file));
  const rows = mapChunks<JsonToken, Row>({ objectMode: true }, createJsonArrayReader({ file, maxElementBytes }));
  return compose(text, parser, rows);
}
