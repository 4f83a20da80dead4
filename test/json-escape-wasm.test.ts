import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { escapeBinaryWasm, wasmEscapeAvailable } from '../lib/wasm/json-escape.ts';
import { compileWasmModules } from '../scripts/build-wasm.ts';

/** What JSON.stringify writes between the quotes, as bytes (a binary string has no surrogates). */
function expected(s: string): Buffer {
  return Buffer.from(JSON.stringify(s).slice(1, -1), 'latin1');
}

function escaped(s: string, at = 3): Buffer {
  const buf = Buffer.alloc(at + 6 * s.length + 32, 0xee);
  const end = escapeBinaryWasm(s, buf, at);
  // Nothing before the start is touched.
  assert.ok(buf.subarray(0, at).every((b) => b === 0xee));
  return buf.subarray(at, end);
}

const byte = fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c));
/** Mostly plain text, so that the 16-byte clean path and the escapes both run. */
const texty = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('a', 'é', '中', ' ', '🙂') }, { weight: 1, arbitrary: byte });

test('the wasm module is available on this Node', () => {
  assert.equal(wasmEscapeAvailable, true);
});

test('wasm escape writes exactly what JSON.stringify does, for any bytes and lengths', () => {
  let every = '';
  for (let c = 0; c < 256; c++) every += String.fromCharCode(c);
  assert.deepEqual(escaped(every), expected(every));
  assert.deepEqual(escaped(''), expected(''));
  fc.assert(
    fc.property(fc.string({ unit: byte, maxLength: 300 }), fc.nat(40), (s, at) => {
      assert.deepEqual(escaped(s, at), expected(s));
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.string({ unit: texty, maxLength: 2000 }).map((s) => Buffer.from(s, 'utf8').toString('latin1')), (s) => {
      assert.deepEqual(escaped(s), expected(s));
    }),
  );
});

test('strings longer than one wasm chunk (64 KiB) are escaped piece by piece with the same bytes', () => {
  const chunk = 64 * 1024;
  for (const n of [chunk - 1, chunk, chunk + 1, 3 * chunk + 17]) {
    // An escape on each side of every chunk edge, and a run of clean bytes.
    let s = 'x'.repeat(n).split('');
    for (let k = chunk; k < n + 2; k += chunk) for (const d of [-2, -1, 0, 1]) if (k + d >= 0 && k + d < n) s[k + d] = '\n';
    s[0] = '"';
    const text = s.join('');
    assert.deepEqual(escaped(text), expected(text));
  }
  fc.assert(
    fc.property(fc.string({ unit: byte, minLength: chunk - 40, maxLength: chunk + 40 }), (s) => {
      assert.deepEqual(escaped(s), expected(s));
    }),
    { numRuns: 20 },
  );
});

test('the committed wasm modules are what their .wat sources compile to (npm run build:wasm)', async () => {
  for (const { path, text } of await compileWasmModules()) assert.equal(readFileSync(path, 'utf8'), text, `${path} is stale`);
});
