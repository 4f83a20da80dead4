/**
 * CRC-64/XZ, which TOS calls "CRC64-ECMA" (`x-tos-hash-crc64ecma`): reflected polynomial
 * 0xC96C5795D7870F42, init and xorout all ones, sent as an unsigned decimal string.
 *
 * The hot loop works on two 32-bit halves with slice-by-8 tables, because BigInt arithmetic
 * per byte is two orders of magnitude slower. BigInt is used only at the API boundary and in
 * `crc64Combine`, which runs once per part. Throughput: bench/crc64.bench.ts.
 */

const POLY = 0xc96c5795d7870f42n;
const POLY_LO = 0xd7870f42;
const POLY_HI = 0xc96c5795;

// LO[k][n] / HI[k][n]: the two halves of the CRC of byte n followed by k zero bytes.
const [LO, HI] = buildTables();
// The word loop reads the buffer as native Uint32s, which is the CRC's byte order only on LE.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function buildTables(): [Uint32Array[], Uint32Array[]] {
  const lo8 = Array.from({ length: 8 }, () => new Uint32Array(256));
  const hi8 = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let lo = n;
    let hi = 0;
    for (let bit = 0; bit < 8; bit++) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (carry) {
        lo = (lo ^ POLY_LO) >>> 0;
        hi = (hi ^ POLY_HI) >>> 0;
      }
    }
    lo8[0][n] = lo;
    hi8[0][n] = hi;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const lo = lo8[k - 1][n];
      const hi = hi8[k - 1][n];
      const idx = lo & 0xff;
      lo8[k][n] = (((lo >>> 8) | (hi << 24)) ^ lo8[0][idx]) >>> 0;
      hi8[k][n] = ((hi >>> 8) ^ hi8[0][idx]) >>> 0;
    }
  }
  return [lo8, hi8];
}

/** The CRC of zero bytes, the starting value for `crc64Update`. */
export const CRC64_INITIAL = 0n;

/**
 * Extends `crc` (the finished CRC of the bytes before `data`) over `data`. Feeding a buffer in
 * any split gives the same result as feeding it whole.
 */
export function crc64Update(crc: bigint, data: Uint8Array): bigint {
  // Undo the previous xorout so the register continues where it stopped. The halves may go
  // negative as int32 below; XOR and table indexes do not care, and the return masks them.
  let lo = ~Number(crc & 0xffffffffn);
  let hi = ~Number((crc >> 32n) & 0xffffffffn);
  const [l0, l1, l2, l3, l4, l5, l6, l7] = LO;
  const [h0, h1, h2, h3, h4, h5, h6, h7] = HI;
  const len = data.length;
  let i = 0;
  // Bytes up to a 4-byte boundary one at a time, so the middle can be read as aligned words.
  const head = LITTLE_ENDIAN ? Math.min(len, (4 - (data.byteOffset & 3)) & 3) : len;
  for (; i < head; i++) {
    const x = (lo ^ data[i]) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ l0[x];
    hi = (hi >>> 8) ^ h0[x];
  }
  if (LITTLE_ENDIAN && len - i >= 8) {
    const words = new Uint32Array(data.buffer, data.byteOffset + i, ((len - i) >>> 3) << 1);
    for (let w = 0; w < words.length; w += 2) {
      const a = lo ^ words[w];
      const b = hi ^ words[w + 1];
      const i7 = a & 0xff;
      const i6 = (a >>> 8) & 0xff;
      const i5 = (a >>> 16) & 0xff;
      const i4 = a >>> 24;
      const i3 = b & 0xff;
      const i2 = (b >>> 8) & 0xff;
      const i1 = (b >>> 16) & 0xff;
      const i0 = b >>> 24;
      lo = l7[i7] ^ l6[i6] ^ l5[i5] ^ l4[i4] ^ l3[i3] ^ l2[i2] ^ l1[i1] ^ l0[i0];
      hi = h7[i7] ^ h6[i6] ^ h5[i5] ^ h4[i4] ^ h3[i3] ^ h2[i2] ^ h1[i1] ^ h0[i0];
    }
    i += words.length * 4;
  }
  for (; i < len; i++) {
    const x = (lo ^ data[i]) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ l0[x];
    hi = (hi >>> 8) ^ h0[x];
  }
  return (BigInt(~hi >>> 0) << 32n) | BigInt(~lo >>> 0);
}

/** CRC-64/XZ of a whole buffer or of a string's UTF-8 bytes. */
export function crc64(data: Uint8Array | string): bigint {
  return crc64Update(CRC64_INITIAL, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
}

/** The decimal string TOS puts in `x-tos-hash-crc64ecma`. */
export function crc64ToString(crc: bigint): string {
  return BigInt.asUintN(64, crc).toString(10);
}

/** Parses a decimal (or `0x` hex) CRC string; throws RangeError when it is not a 64-bit value. */
export function crc64FromString(text: string): bigint {
  if (!/^(?:\d{1,20}|0x[0-9a-fA-F]{1,16})$/.test(text)) throw new RangeError(`Expected a 64-bit CRC, got ${JSON.stringify(text)}`);
  const value = BigInt(text);
  if (value > 0xffffffffffffffffn) throw new RangeError(`Expected a 64-bit CRC, got ${text}`);
  return value;
}

// GF(2) polynomial arithmetic modulo POLY in reflected form, as in zlib's crc32_combine_gen:
// bit 63 is x^0. Shifting crc1 over len2 zero bytes is a multiplication by x^(8*len2).
const TOP = 1n << 63n;

function multModP(a: bigint, b: bigint): bigint {
  let m = TOP;
  let p = 0n;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1n)) === 0n) break;
    }
    m >>= 1n;
    b = b & 1n ? (b >> 1n) ^ POLY : b >> 1n;
  }
  return p;
}

// X2N[k] = x^(2^k) mod POLY.
const X2N: readonly bigint[] = (() => {
  const table: bigint[] = [1n << 62n];
  for (let k = 1; k < 64; k++) table.push(multModP(table[k - 1], table[k - 1]));
  return table;
})();

function x2nModP(n: bigint, k: number): bigint {
  let p = TOP;
  while (n > 0n) {
    if (n & 1n) p = multModP(X2N[k & 63], p);
    n >>= 1n;
    k++;
  }
  return p;
}

/**
 * The CRC of A‖B from crc(A), crc(B) and B's length in bytes, without touching the data.
 * This is how a multipart object's CRC comes from its parts' CRCs.
 */
export function crc64Combine(crc1: bigint, crc2: bigint, len2: number | bigint): bigint {
  const n = BigInt(len2);
  if (n < 0n) throw new RangeError(`Expected a length >= 0, got ${len2}`);
  if (n === 0n) return crc1;
  return multModP(x2nModP(n, 3), crc1) ^ crc2;
}
