/** Test helpers: feed bytes in chosen chunks through a stream and collect what comes out. */
import { Readable } from 'node:stream';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';

/** Cuts `bytes` at the given offsets (any order, duplicates and out-of-range ignored). */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    if (p > start) chunks.push(Buffer.from(bytes.subarray(start, p)));
    start = Math.max(start, p);
  }
  return chunks;
}

/** Random cut offsets for `splitAt`: anywhere, so inside multi-byte characters and CR LF too. */
export const cutsArb = fc.array(fc.nat({ max: 1 << 20 }), { maxLength: 40 });

/** Pipes the chunks through `stream` and returns every object it emitted. */
export async function collect<T = unknown>(stream: Duplex, chunks: readonly Uint8Array[]): Promise<T[]> {
  const out: T[] = [];
  await pipeline(
    Readable.from(chunks.map((c) => Buffer.from(c)), { objectMode: false }),
    stream,
    async (source: AsyncIterable<T>) => {
      for await (const item of source) out.push(item);
    },
  );
  return out;
}

/** Strings rich in what breaks text code: CJK, emoji (astral, ZWJ), lone surrogates, controls. */
export const unicodeStringArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('中', '文', '😀', '👩‍👩‍👧', 'é', '\u0301', '\n', '\r', '"', '\\', '\u0000', '\u2028'), maxLength: 12 }),
  fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 3 }),
);

/** Keys that trip naive object building (`obj[key] = v`). */
const trickyKeyArb = fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty');

/** JSON-able objects with those strings as keys and values, nested a little. */
export const recordArb: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(
  fc.oneof(unicodeStringArb, trickyKeyArb),
  fc.oneof(
    { depthSize: 'small' },
    unicodeStringArb,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(unicodeStringArb, { maxLength: 3 }),
    fc.dictionary(unicodeStringArb, unicodeStringArb, { maxKeys: 3 }),
  ),
  { maxKeys: 6 },
);

/** What a JSON round-trip makes of a value (-0 → 0, and so on): the reader's expected output. */
export function viaJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
