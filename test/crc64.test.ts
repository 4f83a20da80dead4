import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc64 as referenceCrc64, combineCrc64 } from 'tos-crc64-js';
import { CRC64_INITIAL, crc64, crc64Combine, crc64FromString, crc64ToString, crc64Update } from '../lib/tos/crc64.ts';

test('crc64 of "123456789" is the CRC-64/XZ check value 11051210869376104954', () => {
  assert.equal(crc64ToString(crc64('123456789')), '11051210869376104954');
  assert.equal(crc64('123456789'), 0x995dc9bbdf1939fan);
});

test('crc64 of nothing is 0, as TOS sends for an empty object', () => {
  assert.equal(crc64ToString(crc64(Buffer.alloc(0))), '0');
});

test('crc64 agrees with tos-crc64-js (the SDK’s own implementation) on random data', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
      const buf = Buffer.from(bytes);
      assert.equal(crc64ToString(crc64(buf)), referenceCrc64(buf));
    }),
    { numRuns: 200 },
  );
});

test('crc64 agrees with tos-crc64-js on a 1 MiB buffer of random bytes', () => {
  const buf = Buffer.alloc(1 << 20);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) >>> 24;
  // The reference is fed in 64 KiB slices: fed whole, its Emscripten heap grows and warns on stderr.
  let ref = '0';
  for (let i = 0; i < buf.length; i += 65536) ref = referenceCrc64(buf.subarray(i, i + 65536), ref);
  assert.equal(crc64ToString(crc64(buf)), ref);
});

test('crc64 is the same for a view at any byte offset of its underlying buffer (aligned and unaligned word reads)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.integer({ min: 0, max: 7 }), (bytes, offset) => {
      const backing = new Uint8Array(bytes.length + 8);
      backing.set(bytes, offset);
      const view = backing.subarray(offset, offset + bytes.length);
      assert.equal(view.byteOffset % 8, offset);
      assert.equal(crc64ToString(crc64(view)), referenceCrc64(Buffer.from(bytes)));
    }),
  );
});

test('crc64Update gives the same CRC however the data is split into chunks', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
      const buf = Buffer.from(bytes);
      const points = [...new Set(cuts.map((c) => (buf.length ? c % (buf.length + 1) : 0)))].sort((a, b) => a - b);
      let crc = CRC64_INITIAL;
      let from = 0;
      for (const p of [...points, buf.length]) {
        crc = crc64Update(crc, buf.subarray(from, p));
        from = p;
      }
      assert.equal(crc, crc64(buf));
    }),
  );
});

test('crc64 of a string hashes its UTF-8 bytes (CJK, emoji, surrogate pairs)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => {
      assert.equal(crc64(text), crc64(Buffer.from(text, 'utf8')));
      assert.equal(crc64ToString(crc64(text)), referenceCrc64(Buffer.from(text, 'utf8')));
    }),
  );
});

test('crc64Combine(crc(A), crc(B), len(B)) equals crc(A‖B)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1500 }), fc.uint8Array({ maxLength: 1500 }), (a, b) => {
      const whole = crc64(Buffer.concat([a, b]));
      assert.equal(crc64Combine(crc64(a), crc64(b), b.length), whole);
      assert.equal(crc64ToString(whole), combineCrc64(referenceCrc64(Buffer.from(a)), referenceCrc64(Buffer.from(b)), b.length));
    }),
    { numRuns: 200 },
  );
});

test('crc64Combine folds many parts left to right, as a multipart object’s CRC', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }), (parts) => {
      let crc = CRC64_INITIAL;
      for (const p of parts) crc = crc64Combine(crc, crc64(p), p.length);
      assert.equal(crc, crc64(Buffer.concat(parts)));
    }),
  );
});

test('crc64Combine stays consistent for part lengths beyond 4 GiB (where tos-crc64-js truncates to 32 bits)', () => {
  const [a, b, c] = [crc64('left'), crc64('right'), crc64('mid')];
  const n1 = 3 * 1024 ** 3;
  const n2 = 3 * 1024 ** 3;
  // Combining is associative: (a‖c)‖b == a‖(c‖b) with |c‖b| = n1 + n2 > 2^32.
  assert.equal(crc64Combine(crc64Combine(a, c, n1), b, n2), crc64Combine(a, crc64Combine(c, b, n2), n1 + n2));
  // The SDK's combineCrc64 takes the length mod 2^32, so for a 5 GiB part it equals ours at len mod 2^32.
  const len = 5 * 1024 ** 3;
  assert.equal(combineCrc64(crc64ToString(a), crc64ToString(b), len), crc64ToString(crc64Combine(a, b, len % 2 ** 32)));
  assert.notEqual(crc64Combine(a, b, len), crc64Combine(a, b, len % 2 ** 32));
});

test('crc64FromString reads the decimal header form back and rejects non-CRC text', () => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (v) => assert.equal(crc64FromString(crc64ToString(v)), v)));
  assert.throws(() => crc64FromString('18446744073709551616'), RangeError);
  assert.throws(() => crc64FromString('-1'), RangeError);
  assert.throws(() => crc64FromString(''), RangeError);
});
