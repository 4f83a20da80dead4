/**
 * CRC-64/XZ, which TOS calls "CRC64-ECMA" (`x-tos-hash-crc64ecma`): reflected polynomial
 * 0xC96C5795D7870F42, init and xorout all ones, sent as an unsigned decimal string.
 *
 * The hot loop works on two 32-bit halves with slice-by-8 tables, because BigInt arithmetic
 * per byte is two orders of magnitude slower. BigInt is used only at the API boundary and in
 * `crc64Combine`, which runs once per part.
 */

const POLY = 0xc96c5795d7870f42n;
const POLY_LO = 0xd7870f42;
const POLY_HI = 0xc96c5795;

// TABLES[k] holds 256 entries as (lo, hi) pairs: the CRC of byte n followed by k zero bytes.
const TABLES: readonly Uint32Array[] = buildTables();

function buildTables(): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(512));
  const t0 = tables[0];
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
    t0[2 * n] = lo;
    t0[2 * n + 1] = hi;
  }
  for (let k = 1; k < 8; k++) {
    const prev = tables[k - 1];
    const cur = tables[k];
    for (let n = 0; n < 256; n++) {
      const lo = prev[2 * n];
      const hi = prev[2 * n + 1];
      const idx = (lo & 0xff) * 2;
      cur[2 * n] = (((lo >>> 8) | (hi << 24)) ^ t0[idx]) >>> 0;
      cur[2 * n + 1] = ((hi >>> 8) ^ t0[idx + 1]) >>> 0;
    }
  }
  return tables;
}

/** The CRC of zero bytes, the starting value for `crc64Update`. */
export const CRC64_INITIAL = 0n;

/**
 * Extends `crc` (the finished CRC of the bytes before `data`) over `data`. Feeding a buffer in
 * any split gives the same result as feeding it whole.
 */
export function crc64Update(crc: bigint, data: Uint8Array): bigint {
  // Undo the previous xorout so the register continues where it stopped.
  let lo = ~Number(crc & 0xffffffffn) >>> 0;
  let hi = ~Number((crc >> 32n) & 0xffffffffn) >>> 0;
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  const len = data.length;
  let i = 0;
  const end8 = len - (len % 8);
  while (i < end8) {
    const a = (lo ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24))) >>> 0;
    const b = (hi ^ (data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24))) >>> 0;
    const i7 = (a & 0xff) << 1;
    const i6 = ((a >>> 8) & 0xff) << 1;
    const i5 = ((a >>> 16) & 0xff) << 1;
    const i4 = (a >>> 24) << 1;
    const i3 = (b & 0xff) << 1;
    const i2 = ((b >>> 8) & 0xff) << 1;
    const i1 = ((b >>> 16) & 0xff) << 1;
    const i0 = (b >>> 24) << 1;
    lo = (t7[i7] ^ t6[i6] ^ t5[i5] ^ t4[i4] ^ t3[i3] ^ t2[i2] ^ t1[i1] ^ t0[i0]) >>> 0;
    hi = (t7[i7 + 1] ^ t6[i6 + 1] ^ t5[i5 + 1] ^ t4[i4 + 1] ^ t3[i3 + 1] ^ t2[i2 + 1] ^ t1[i1 + 1] ^ t0[i0 + 1]) >>> 0;
    i += 8;
  }
  for (; i < len; i++) {
    const idx = ((lo ^ data[i]) & 0xff) << 1;
    lo = (((lo >>> 8) | (hi << 24)) ^ t0[idx]) >>> 0;
    hi = ((hi >>> 8) ^ t0[idx + 1]) >>> 0;
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
